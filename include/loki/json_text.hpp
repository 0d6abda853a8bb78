// Writing JSON text directly (reports, AdmissionReview answers) with the bytes
// nlohmann::json::dump() would write, without building a json value.
#pragma once

#include <string>
#include <string_view>

namespace loki {

// Appends `s` as a JSON string the way nlohmann::json::dump() writes it
// (UTF-8 kept, `"` `\` and control characters escaped); false, leaving `out`
// partly written, when `s` is not valid UTF-8 (dump() would throw).
bool append_json_string(std::string& out, std::string_view s);

}  // namespace loki
