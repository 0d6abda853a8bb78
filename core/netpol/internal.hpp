// Shared between the files of core/netpol/.
#pragma once

#include <loki/netpol.hpp>

#include <string>

namespace loki::netpol::detail {

// Metadata shared by every policy flavour: ref, file, lines, ignores, the
// "mentions egress" hint.
Policy policy_base(const Object& o, const std::string& default_namespace);

// Cilium: CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy.
std::vector<Policy> parse_cilium(const Object& o, const std::string& default_namespace);

// AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy.
std::vector<Policy> parse_cluster(const Object& o);

// "/spec/egress/0" + "/to/1".
inline std::string ptr(const std::string& base, const std::string& key) {
  return base + "/" + key;
}
inline std::string ptr(const std::string& base, std::size_t index) {
  return base + "/" + std::to_string(index);
}

bool contains_ci(std::string_view haystack, std::string_view needle);

}  // namespace loki::netpol::detail
