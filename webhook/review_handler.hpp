// The HTTP edge of /validate and /mutate, as controller-runtime's
// webhook.Admission.ServeHTTP: method check, the depth guard, JSON decoding,
// the decision, then metrics and the log line. The admission logic itself
// (admission.hpp) sees only a parsed review.
#pragma once

#include <loki/config.hpp>

#include "admission.hpp"
#include "metrics.hpp"
#include "server.hpp"

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace loki::webhook {

// The payload of a JSON log line from an object: `"key":value,...`.
std::string log_fields(const nlohmann::json& j);

struct ReviewEndpoint {
  metrics::Registry& registry;
  std::function<std::shared_ptr<const Config>()> config;  // the current config (reloadable)
  std::function<ClusterView(const Config&)> view_for;     // the cluster as the config sees it

  HttpResponse operator()(const HttpRequest& req, bool validating) const;
};

}  // namespace loki::webhook
