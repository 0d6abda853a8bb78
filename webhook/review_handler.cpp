#include "review_handler.hpp"

#include "body_guard.hpp"
#include "json_body.hpp"

#include <spdlog/spdlog.h>
#include <chrono>

namespace loki::webhook {

using nlohmann::json;

std::string log_fields(const json& j) {
  std::string s = j.dump();
  return s.size() >= 2 ? s.substr(1, s.size() - 2) : std::string();
}

namespace {

// Deeper JSON is refused before parsing: nlohmann's parser recurses.
constexpr int kMaxDepth = 256;

HttpResponse bad_request(metrics::Registry& registry, const char* endpoint, const HttpRequest& req,
                         const std::string& why) {
  registry.inc("loki_webhook_requests_total", {{"endpoint", endpoint}, {"kind", ""}, {"decision", "error"}});
  spdlog::warn(R"("msg":"bad request","endpoint":{},"remote":{},"error":{})", json(endpoint).dump(),
               json(req.remote).dump(), json(why).dump());
  return HttpResponse{400, "application/json", json{{"error", why}}.dump()};
}

// Metrics and the decision's log line: the one place the verdict becomes a string.
void record(metrics::Registry& registry, const char* endpoint, const Decision& d, double secs) {
  const std::string verdict(to_string(d.decision));
  registry.inc("loki_webhook_requests_total", {{"endpoint", endpoint}, {"kind", d.kind}, {"decision", verdict}});
  registry.observe("loki_webhook_request_duration_seconds", {{"endpoint", endpoint}}, secs);
  for (const auto& r : d.rules) registry.inc("loki_webhook_findings_total", {{"rule", r}});
  const bool skip = d.decision == Verdict::skip;
  // Built only when it will be written (a skip is debug, a decision info).
  if (!spdlog::should_log(skip ? spdlog::level::debug : spdlog::level::info)) return;
  json line = {{"msg", "admission decision"},
               {"endpoint", endpoint},
               {"uid", d.uid},
               {"kind", d.kind},
               {"namespace", d.ns},
               {"name", d.name},
               {"operation", d.operation},
               {"user", d.user},
               {"decision", verdict},
               {"rules", d.rules},
               {"patch", d.patch_summary},
               {"latency_ms", secs * 1000}};
  if (skip)
    spdlog::debug(log_fields(line));
  else
    spdlog::info(log_fields(line));
}

}  // namespace

HttpResponse ReviewEndpoint::operator()(const HttpRequest& req, bool validating) const {
  auto t0 = std::chrono::steady_clock::now();
  const char* endpoint = validating ? "/validate" : "/mutate";
  if (req.method != "POST") return HttpResponse{405, "application/json", R"({"error":"use POST"})"};
  if (too_deep(req.body, kMaxDepth)) return bad_request(registry, endpoint, req, "JSON nested deeper than 256 levels");
  json body = parse_body(req.body);  // json::parse's value and verdict, read by Boost.JSON
  if (body.is_discarded()) return bad_request(registry, endpoint, req, "body is not valid JSON");
  auto cfg = config();
  Decision d;
  try {
    ClusterView view = view_for(*cfg);
    d = validating ? validate(std::move(body), *cfg, view) : mutate(body, *cfg, view);
  } catch (const BadReview& e) {
    return bad_request(registry, endpoint, req, e.what());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  record(registry, endpoint, d, secs);
  return HttpResponse{200, "application/json", d.body()};
}

}  // namespace loki::webhook
