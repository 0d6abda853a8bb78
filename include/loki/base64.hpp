// Base64 (RFC 4648, standard alphabet, padded), as kubeconfig *-data fields,
// KUBERNETES_EXEC_INFO and AdmissionResponse.patch use it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace loki {

std::string base64_encode(std::string_view in);
// Whitespace and padding are skipped; nullopt for any other non-alphabet byte.
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace loki
