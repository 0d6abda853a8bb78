// The steps of load_cluster_config, exposed for the unit tests: which files
// (discover), one view of them (merge); the context, cluster and user are
// then resolved from the merged view.
#pragma once

#include <loki/kubeconfig.hpp>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace loki::kubeconfig {

// --kubeconfig (that file only; missing is an error), else $KUBECONFIG (a
// colon list; missing entries skipped), else ~/.kube/config if it exists.
std::vector<std::string> discover_files(const std::string& flag);

struct Merged {
  std::string current_context;                         // from the first file that sets one
  std::string sources;                                 // the files, colon-separated
  nlohmann::json clusters = nlohmann::json::object();  // name -> cluster; the first file to define a name wins
  nlohmann::json users = nlohmann::json::object();
  nlohmann::json contexts = nlohmann::json::object();
};
Merged merge_files(const std::vector<std::string>& files);

}  // namespace loki::kubeconfig
