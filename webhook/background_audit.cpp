#include "background_audit.hpp"

#include <spdlog/spdlog.h>

#include <loki/cluster.hpp>
#include <loki/engine.hpp>
#include <loki/json_access.hpp>
#include <loki/kube_client.hpp>
#include <loki/pipeline.hpp>
#include <loki/rule.hpp>

#include <algorithm>
#include <array>
#include <ctime>
#include <functional>
#include <string_view>

namespace loki::webhook {

using nlohmann::json;

namespace {

const json& meta(const json& o) {
  return mapping_field(o, "metadata");
}

EngineOptions engine_options(const Config& cfg, const std::string& ns) {
  EngineOptions eo;
  eo.config = cfg;
  eo.default_namespace = ns;
  eo.validate = false;  // the API server validated the objects
  return eo;
}

ResourceType reports_type(ReportApi api) {
  return api == ReportApi::wgpolicy ? ResourceType{"wgpolicyk8s.io", "v1alpha2", "policyreports", "PolicyReport", true}
                                    : ResourceType{"openreports.io", "v1alpha1", "reports", "Report", true};
}

// Where a text named its pod, in an interned finding set. Texts that hold it
// already are kept as they are, so putting the name back is exact.
constexpr std::string_view kPodMark = "\x1e";

std::string replace_all(const std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  std::size_t at = 0;
  for (std::size_t hit; (hit = s.find(from, at)) != std::string::npos; at = hit + from.size()) {
    out.append(s, at, hit - at);
    out.append(to);
  }
  out.append(s, at, std::string::npos);
  return out;
}

std::string pod_path(const std::string& ns, const std::string& name) {
  return "/api/v1/namespaces/" + ns + "/pods/" + name;
}

void mix(std::size_t& h, std::size_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
}

// Every field of a Finding (a new field must be compared and hashed here, or
// pods that differ in it would share one set).
#if defined(__x86_64__) && defined(__GLIBCXX__)
static_assert(sizeof(Finding) == 384, "Finding changed: compare and hash the new field in same_finding/hash_finding");
#endif
bool same_finding(const Finding& a, const Finding& b) {
  return a.rule == b.rule && a.severity == b.severity && a.object == b.object && a.container == b.container &&
         a.file == b.file && a.line == b.line && a.message == b.message && a.remediation == b.remediation &&
         a.suppressed == b.suppressed && a.suppression_reason == b.suppression_reason && a.field == b.field;
}

std::size_t hash_finding(const Finding& f) {
  const std::hash<std::string> hs;
  std::size_t h = hs(f.rule);
  for (const std::string* s : {&f.object.apiVersion, &f.object.kind, &f.object.ns, &f.object.name, &f.file, &f.message,
                               &f.remediation, &f.suppression_reason, &f.field})
    mix(h, hs(*s));
  mix(h, f.container ? hs(*f.container) + 1 : 0);
  mix(h, static_cast<std::size_t>(f.severity) * 4 + (f.suppressed ? 2 : 0));
  mix(h, static_cast<std::size_t>(f.line));
  return h;
}

}  // namespace

std::string report_digest(const json& report) {
  json d = json::object();
  if (report.contains("results") && report["results"].is_array()) {
    json results = report["results"];
    for (auto& r : results)
      if (r.is_object()) r.erase("timestamp");
    d["results"] = std::move(results);
  }
  for (const char* k : {"summary", "source"})
    if (report.contains(k)) d[k] = report[k];
  d["labels"] = mapping_field(meta(report), "labels");
  return d.dump();
}

// ---- API server I/O ------------------------------------------------------------

ReportStore kube_report_store(const ClusterConfig& cfg, ReportApi api) {
  auto client = std::make_shared<KubeClient>(cfg);
  ReportStore s;
  s.list = [client, api] {
    std::map<std::string, json> out;
    ListResult listed = client->list(reports_type(api), "", 500, "app.kubernetes.io/managed-by=loki-guard");
    for (auto& item : listed.items)
      if (string_field(meta(item), "name") == "loki-guard") {
        // The key first: in `out[key(item)] = std::move(item)` C++17 evaluates the right side (json's
        // operator= takes its argument by value: a move) before the left, so the key read an empty item
        // and every new leader rewrote its reports once.
        std::string ns = string_field(meta(item), "namespace");
        out[std::move(ns)] = std::move(item);
      }
    return out;
  };
  s.apply = [client, api](const std::string& ns, const json& report) {
    client->apply(reports_type(api).collection_path(ns) + "/loki-guard", report, "loki-guard", true);
  };
  s.remove = [client, api](const std::string& ns) {
    try {
      client->remove(reports_type(api).collection_path(ns) + "/loki-guard");
    } catch (const KubeError& e) {
      if (e.status != 404) throw;  // already gone
    }
  };
  return s;
}

OwnerLookup kube_owner_lookup(const ClusterConfig& cfg) {
  auto client = std::make_shared<KubeClient>(cfg);
  return [client](const std::string& api_version, const std::string& kind, const std::string& ns,
                  const std::string& name) -> std::optional<json> {
    const ResourceType* rt = resource_for_kind(kind);
    if (!rt || rt->group_version() != api_version) return std::nullopt;
    try {
      json o = client->get(rt->collection_path(ns) + "/" + name);
      o["apiVersion"] = api_version;
      o["kind"] = kind;
      return o;
    } catch (const KubeError& e) {
      // Not found, or not readable (a CRD workload kind the chart grants nothing on): the pod stays the subject.
      spdlog::debug(R"("msg":"background audit: owner not readable","kind":{},"name":{},"status":{})",
                    json(kind).dump(), json(name).dump(), e.status);
      return std::nullopt;
    }
  };
}

// ---- the auditor ---------------------------------------------------------------

BackgroundAudit::BackgroundAudit(PolicyCache& cache, std::function<std::shared_ptr<const Config>()> config,
                                 BackgroundAuditOptions opts, ReportStore store, OwnerLookup owners,
                                 metrics::Registry* registry)
    : cache_(cache),
      config_(std::move(config)),
      opts_(opts),
      store_(std::move(store)),
      owners_(std::move(owners)),
      registry_(registry) {
  if (registry_) {
    registry_->describe("loki_audit_findings",
                        "Open findings of the background audit, by rule, namespace and severity.");
    registry_->describe("loki_audit_evaluation_duration_seconds", "Time to re-audit one namespace.");
    registry_->describe("loki_audit_report_writes_total",
                        "Policy report writes by result (applied, deleted, error); unchanged reports are not written.");
    registry_->describe("loki_audit_leader", "1 while this replica holds the audit lease and writes reports.");
    registry_->set("loki_audit_leader", {}, 0);
    for (const char* r : {"applied", "deleted", "error"})
      registry_->counter("loki_audit_report_writes_total", {{"result", r}});
  }
}

BackgroundAudit::~BackgroundAudit() {
  stop();
}

void BackgroundAudit::attach() {
  PolicyCache::Listener l;
  l.changed = [this](const std::string& ns) {
    if (ns.empty())
      mark_all();
    else
      mark(ns);
  };
  l.pod = [this](const std::string& ns, const std::string& name, const json* pod) { on_pod(ns, name, pod); };
  l.pods_begin = [this] { on_list_begin(); };
  l.pods_page = [this](const std::vector<json>& pods) { on_list_page(pods); };
  l.pods_commit = [this] { on_list_commit(); };
  cache_.set_listener(std::move(l));
}

BackgroundAudit::PodFindings BackgroundAudit::strip(std::vector<Finding>&& findings, const std::string& ns,
                                                    const std::string& name) {
  PodFindings pf;
  const ObjectRef self{"v1", "Pod", ns, name};
  const std::string path = pod_path(ns, name);
  pf.own.reserve(findings.size());
  std::size_t h = findings.size();
  for (Finding& f : findings) {
    std::uint8_t own = 0;
    if (f.object == self) {
      own |= PodFindings::object;
      f.object = {};
    }
    if (f.file == path) {
      own |= PodFindings::file;
      f.file.clear();
    }
    const std::array<std::string*, 3> texts{&f.message, &f.remediation, &f.suppression_reason};
    if (!name.empty() &&
        std::none_of(texts.begin(), texts.end(), [](const std::string* t) { return t->find(kPodMark) != t->npos; }) &&
        std::any_of(texts.begin(), texts.end(), [&](const std::string* t) { return t->find(name) != t->npos; })) {
      own |= PodFindings::name;
      for (std::string* t : texts) *t = replace_all(*t, name, kPodMark);
    }
    pf.own.push_back(own);
    mix(h, hash_finding(f));
    mix(h, own);
  }
  pf.findings = std::move(findings);
  pf.findings.shrink_to_fit();
  pf.hash = h;
  return pf;
}

std::vector<Finding> BackgroundAudit::restore(const PodFindings& pf, const std::string& ns, const std::string& name) {
  std::vector<Finding> out = pf.findings;
  for (std::size_t i = 0; i < out.size(); ++i) {
    Finding& f = out[i];
    if (pf.own[i] & PodFindings::object) f.object = {"v1", "Pod", ns, name};
    if (pf.own[i] & PodFindings::file) f.file = pod_path(ns, name);
    if (pf.own[i] & PodFindings::name)
      for (std::string* t : {&f.message, &f.remediation, &f.suppression_reason}) *t = replace_all(*t, kPodMark, name);
  }
  return out;
}

std::shared_ptr<const BackgroundAudit::PodFindings> BackgroundAudit::intern(PodFindings&& pf) const {
  if (pf.findings.empty()) return nullptr;
  std::lock_guard lk(intern_mu_);
  auto [lo, hi] = interned_.equal_range(pf.hash);
  for (auto it = lo; it != hi; ++it)
    if (auto sp = it->second.lock();
        sp && sp->own == pf.own && sp->token_service_account == pf.token_service_account &&
        std::equal(sp->findings.begin(), sp->findings.end(), pf.findings.begin(), pf.findings.end(), same_finding))
      return sp;
  auto sp = std::make_shared<const PodFindings>(std::move(pf));
  interned_.emplace(sp->hash, sp);
  if (interned_.size() >= interned_sweep_at_) {
    // Sets no pod uses any more: amortized, the table stays within twice the live sets.
    std::erase_if(interned_, [](const auto& e) { return e.second.expired(); });
    interned_sweep_at_ = std::max<std::size_t>(1024, interned_.size() * 2);
  }
  return sp;
}

const void* BackgroundAudit::findings_storage(const std::string& ns, const std::string& name) const {
  std::lock_guard lk(mu_);
  auto it = pods_.find(ns);
  if (it == pods_.end()) return nullptr;
  auto p = it->second.find(name);
  return p == it->second.end() ? nullptr : p->second->findings.get();
}

std::size_t BackgroundAudit::findings_sets() const {
  std::lock_guard lk(intern_mu_);
  return static_cast<std::size_t>(
      std::count_if(interned_.begin(), interned_.end(), [](const auto& e) { return !e.second.expired(); }));
}

BackgroundAudit::PodState BackgroundAudit::check_pod(const json& pod, const Config& cfg) const {
  PodState st;
  const std::string ns = string_field(meta(pod), "namespace");
  Object o;
  o.json = pod;
  o.file = api_path_of(pod);
  Pipeline pipeline(engine_options(cfg, ns));
  PipelineBatch batch;
  // Suppressed findings too: the report lists them as skip, as `loki-audit -f report` does.
  std::vector<Finding> findings;
  for (auto& f : pipeline.check(o, batch))
    if (f.rule != rule_id::invalid_manifest) findings.push_back(std::move(f));
  st.agent = batch.agent_pods > 0;
  if (st.agent) {  // the rules are for agents only
    PodFindings pf = strip(std::move(findings), ns, string_field(meta(pod), "name"));
    if (!batch.default_tokens.empty()) {
      const std::string& key = batch.default_tokens.front().service_account;  // "ns/name"
      pf.token_service_account = key.substr(key.find('/') + 1);
      mix(pf.hash, std::hash<std::string>{}(pf.token_service_account));
    }
    st.findings = intern(std::move(pf));
  }
  if (auto refs = meta(pod).find("ownerReferences"); refs != meta(pod).end() && refs->is_array())
    for (const auto& r : *refs)
      if (r.is_object() && r.value("controller", false)) {
        st.owner_api = r.value("apiVersion", "");
        st.owner_kind = r.value("kind", "");
        st.owner_name = r.value("name", "");
        st.owner_uid = r.value("uid", "");
        break;
      }
  return st;
}

void BackgroundAudit::on_pod(const std::string& ns, const std::string& name, const json* pod) {
  std::shared_ptr<const PodState> st;
  if (pod) st = std::make_shared<const PodState>(check_pod(*pod, *config_()));
  std::lock_guard lk(mu_);
  auto& in_ns = pods_[ns];
  if (st)
    in_ns[name] = std::move(st);
  else
    in_ns.erase(name);
}

void BackgroundAudit::on_list_begin() {
  std::lock_guard lk(mu_);
  listing_.clear();
}

void BackgroundAudit::on_list_page(const std::vector<json>& pods) {
  auto cfg = config_();
  std::unordered_map<std::string, PodMap> page;
  for (const auto& p : pods)
    page[string_field(meta(p), "namespace")][string_field(meta(p), "name")] =
        std::make_shared<const PodState>(check_pod(p, *cfg));
  std::lock_guard lk(mu_);
  for (auto& [ns, in_ns] : page) listing_[ns].merge(in_ns);
}

void BackgroundAudit::on_list_commit() {
  std::lock_guard lk(mu_);
  auto next = std::move(listing_);
  listing_.clear();
  // Namespaces whose pods are all gone must still be evaluated (their report deleted).
  for (const auto& [ns, in_ns] : pods_)
    if (!next.count(ns)) next[ns];
  pods_ = std::move(next);
}

void BackgroundAudit::mark(const std::string& ns) {
  {
    std::lock_guard lk(mu_);
    dirty_.try_emplace(ns, Clock::now());
  }
  cv_.notify_all();
}

void BackgroundAudit::mark_all() {
  {
    std::lock_guard lk(mu_);
    const auto now = Clock::now();
    for (const auto& [ns, in_ns] : pods_) dirty_.try_emplace(ns, now);
    for (const auto& [ns, digest] : written_) dirty_.try_emplace(ns, now);
  }
  cv_.notify_all();
}

const BackgroundAudit::Owner& BackgroundAudit::owner(const std::string& api, const std::string& kind,
                                                     const std::string& ns, const std::string& name,
                                                     const std::string& uid) {
  auto it = owner_cache_.find(uid);
  if (it != owner_cache_.end()) return it->second;
  Owner o;
  std::optional<json> got = owners_ ? owners_(api, kind, ns, name) : std::nullopt;
  if (got && string_field(meta(*got), "uid") == uid) {
    o.found = true;
    o.ref = {api, kind, ns, name};
    o.file = api_path_of(*got);
    if (auto refs = meta(*got).find("ownerReferences"); refs != meta(*got).end() && refs->is_array())
      for (const auto& r : *refs)
        if (r.is_object() && r.value("controller", false)) {
          o.up_api = r.value("apiVersion", "");
          o.up_kind = r.value("kind", "");
          o.up_name = r.value("name", "");
          o.up_uid = r.value("uid", "");
          break;
        }
  }
  return owner_cache_.emplace(uid, std::move(o)).first->second;
}

std::pair<ObjectRef, std::string> BackgroundAudit::top_owner(const std::string& ns, const std::string& pod_name,
                                                             const PodState& p) {
  ObjectRef ref{"v1", "Pod", ns, pod_name};
  std::string file = "/api/v1/namespaces/" + ns + "/pods/" + pod_name;
  // As core/cluster.cpp's Owners::top_of: controllers followed up to 8 levels.
  std::string api = p.owner_api, kind = p.owner_kind, name = p.owner_name, uid = p.owner_uid;
  for (int depth = 0; !uid.empty() && depth < 9; ++depth) {
    const Owner& o = owner(api, kind, ns, name, uid);
    if (!o.found) break;
    ref = o.ref;
    file = o.file;
    api = o.up_api;
    kind = o.up_kind;
    name = o.up_name;
    uid = o.up_uid;
  }
  return {ref, file};
}

std::optional<json> BackgroundAudit::build(const std::string& ns, std::vector<Finding>* out_findings) {
  auto cfg = config_();
  if (std::find(cfg->exempt_namespaces.begin(), cfg->exempt_namespaces.end(), ns) != cfg->exempt_namespaces.end())
    return std::nullopt;
  PodMap pods;
  {
    std::lock_guard lk(mu_);
    if (auto it = pods_.find(ns); it != pods_.end()) pods = it->second;
  }
  bool agents = false;
  for (const auto& [name, p] : pods) agents = agents || p->agent;
  if (!agents) return std::nullopt;

  // The network pass over the namespace, from the cache's snapshot (as a review of a policy change builds it).
  ClusterView view = cache_.view(*cfg);
  Pipeline pipeline(engine_options(*cfg, ns));
  PipelineBatch batch;
  if (view.fill) view.fill(ns, batch.inventory);
  if (view.pods) view.pods(ns, *cfg, batch.inventory);
  pipeline.submit(std::move(batch), 0);
  std::vector<std::pair<Finding, std::string>> pod_network;  // finding, pod name
  std::vector<Finding> policy_findings;
  pipeline.network([&](Finding&& f) {
    if (f.object.kind == "Pod" && f.object.ns == ns && pods.count(f.object.name)) {
      std::string name = f.object.name;
      pod_network.emplace_back(std::move(f), std::move(name));
    } else if (f.object.ns == ns) {
      policy_findings.push_back(std::move(f));
    }
  });

  // Grouped per top-level owner exactly as `loki-audit` groups a cluster audit.
  OwnerGroups groups;
  std::vector<ReportSubject> checked;
  std::set<std::string> seen;
  std::map<std::string, std::pair<ObjectRef, std::string>> owner_of;
  // As `loki-audit` (core/cluster.cpp): a ServiceAccount's automountServiceAccountToken: false settles
  // service-account-token for the pods that leave the field unset. (The audit runs on a healthy cache only.)
  const auto token_opt_outs = view.token_opt_outs ? view.token_opt_outs(ns) : nullptr;
  for (const auto& [name, p] : pods) {
    if (!p->agent) continue;
    auto top = top_owner(ns, name, *p);
    if (seen.insert(top.first.display()).second) checked.push_back({top.first});
    owner_of[name] = top;
    if (!p->findings) continue;
    std::vector<Finding> own = restore(*p->findings, ns, name);
    if (token_opt_outs && !p->findings->token_service_account.empty())
      drop_unmounted_token_findings(own, ns + "/" + p->findings->token_service_account, *token_opt_outs);
    for (Finding& f : own) groups.add(std::move(f), top.first, top.second, name);
  }
  for (auto& [f, name] : pod_network) {
    auto it = owner_of.find(name);
    auto top = it != owner_of.end() ? it->second : top_owner(ns, name, *pods[name]);
    groups.add(std::move(f), top.first, top.second, name);
  }
  std::vector<Finding> findings;
  groups.flush(findings);
  for (auto& f : policy_findings) findings.push_back(std::move(f));
  // Rules the config switched off are not reported (as `loki-audit -f report` drops them).
  std::erase_if(findings, [&](const Finding& f) { return !cfg->rule_enabled(f.rule); });

  const std::vector<std::string> rules = report_rules(*cfg);
  PolicyReportOptions ro;
  ro.api = opts_.api;
  ro.timestamp = static_cast<std::int64_t>(std::time(nullptr));
  std::optional<json> report;
  for (auto& r : build_policy_reports(findings, checked, rules, ro))
    if (string_field(meta(r), "namespace") == ns) report = std::move(r);
  if (out_findings) *out_findings = std::move(findings);
  return report;
}

void BackgroundAudit::update_metrics(const std::string& ns, const std::vector<Finding>& findings) {
  if (!registry_) return;
  std::map<std::pair<std::string, std::string>, int> now;
  for (const Finding& f : findings)
    if (!f.suppressed) ++now[{f.rule, std::string(to_string(f.severity))}];
  auto& before = gauges_[ns];
  for (const auto& [key, n] : before)
    if (!now.count(key))
      registry_->remove_callback("loki_audit_findings",
                                 {{"rule", key.first}, {"namespace", ns}, {"severity", key.second}});
  for (const auto& [key, n] : now) {
    const double v = n;
    registry_->gauge_callback("loki_audit_findings", {{"rule", key.first}, {"namespace", ns}, {"severity", key.second}},
                              [v] { return v; });
  }
  if (now.empty())
    gauges_.erase(ns);
  else
    before = std::move(now);
}

void BackgroundAudit::evaluate(const std::string& ns) {
  const auto t0 = Clock::now();
  std::vector<Finding> findings;
  std::optional<json> report = build(ns, &findings);
  update_metrics(ns, findings);
  Stats delta;
  ++delta.evaluations;
  try {
    if (report) {
      std::string digest = report_digest(*report);
      bool same = false;
      {
        std::lock_guard lk(mu_);
        auto it = written_.find(ns);
        same = it != written_.end() && it->second == digest;
      }
      if (same) {
        ++delta.unchanged;
      } else {
        store_.apply(ns, *report);
        spdlog::info(R"("msg":"background audit: report written","namespace":{},"results":{})", json(ns).dump(),
                     (*report)["results"].size());
        std::lock_guard lk(mu_);
        written_[ns] = std::move(digest);
        ++delta.applied;
        if (registry_) registry_->inc("loki_audit_report_writes_total", {{"result", "applied"}});
      }
    } else if (std::unique_lock lk(mu_); written_.count(ns)) {
      lk.unlock();
      store_.remove(ns);
      lk.lock();
      written_.erase(ns);
      ++delta.deleted;
      if (registry_) registry_->inc("loki_audit_report_writes_total", {{"result", "deleted"}});
    }
  } catch (const std::exception& e) {
    // A namespace being deleted refuses new content (403, cause NamespaceTerminating);
    // its report goes with it: nothing to retry, nothing wrong.
    if (const auto* ke = dynamic_cast<const KubeError*>(&e); ke && ke->reason == "NamespaceTerminating") {
      spdlog::debug(R"("msg":"background audit: namespace is being deleted; no report","namespace":{})",
                    json(ns).dump());
      std::lock_guard lk(mu_);
      written_.erase(ns);
      stats_.evaluations += delta.evaluations;
      return;
    }
    ++delta.errors;
    if (registry_) registry_->inc("loki_audit_report_writes_total", {{"result", "error"}});
    spdlog::warn(R"("msg":"background audit: report write failed; retrying at the next interval","namespace":{},)"
                 R"("error":{})",
                 json(ns).dump(), json(e.what()).dump());
    std::lock_guard lk(mu_);
    dirty_.try_emplace(ns, Clock::now());
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (registry_) registry_->observe("loki_audit_evaluation_duration_seconds", {}, secs);
  std::lock_guard lk(mu_);
  stats_.evaluations += delta.evaluations;
  stats_.applied += delta.applied;
  stats_.deleted += delta.deleted;
  stats_.unchanged += delta.unchanged;
  stats_.errors += delta.errors;
}

std::size_t BackgroundAudit::run_once(Clock::time_point now) {
  bool starting = false;
  {
    std::lock_guard lk(mu_);
    if (!leader_) return 0;
    starting = leader_started_;
  }
  if (starting) {
    // A new leader: what is stored already, so unchanged reports are not rewritten.
    if (now < next_list_) return 0;
    try {
      std::map<std::string, json> existing = store_.list ? store_.list() : std::map<std::string, json>{};
      std::lock_guard lk(mu_);
      written_.clear();
      for (const auto& [ns, r] : existing) written_[ns] = report_digest(r);
      spdlog::info(R"("msg":"background audit: leading; existing reports read","reports":{})", existing.size());
    } catch (const std::exception& e) {
      // E.g. the reports CRD is not installed: say so, and try again in a while.
      spdlog::warn(R"("msg":"background audit: cannot list existing reports; retrying in 10s","error":{})",
                   json(e.what()).dump());
      next_list_ = now + std::chrono::seconds(10);
      return 0;
    }
    owner_cache_.clear();
    {
      std::lock_guard lk(mu_);
      leader_started_ = false;
    }
    last_resync_ = now;
    mark_all();
  } else if (now - last_resync_ >= opts_.resync) {
    last_resync_ = now;
    owner_cache_.clear();  // owners change rarely; a resync reads them again
    mark_all();
  }
  // Decide on a complete cache only (a half-listed namespace would flap its report).
  if (!(opts_.cache_ready ? opts_.cache_ready() : cache_.healthy())) return 0;
  std::vector<std::string> due;
  {
    std::lock_guard lk(mu_);
    for (auto it = dirty_.begin(); it != dirty_.end();) {
      auto last = last_eval_.find(it->first);
      const bool quiet = now - it->second >= opts_.debounce;
      const bool allowed = last == last_eval_.end() || now - last->second >= opts_.interval;
      if (quiet && allowed) {
        due.push_back(it->first);
        it = dirty_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& ns : due) {
    last_eval_[ns] = now;
    evaluate(ns);
  }
  return due.size();
}

void BackgroundAudit::set_leader(bool leader) {
  {
    std::lock_guard lk(mu_);
    if (leader && !leader_) leader_started_ = true;
    leader_ = leader;
  }
  if (registry_) registry_->set("loki_audit_leader", {}, leader ? 1 : 0);
  cv_.notify_all();
}

BackgroundAudit::Stats BackgroundAudit::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

void BackgroundAudit::start() {
  if (thread_) return;
  thread_ = std::make_unique<std::thread>([this] { run(); });
}

void BackgroundAudit::stop() {
  if (!thread_) return;
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_->join();
  thread_.reset();
}

void BackgroundAudit::run() {
  const auto tick = std::min<std::chrono::milliseconds>(opts_.debounce, std::chrono::milliseconds(250));
  while (true) {
    {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, tick, [this] { return stop_; });
      if (stop_) return;
    }
    try {
      run_once(Clock::now());
    } catch (const std::exception& e) {
      spdlog::error(R"("msg":"background audit: evaluation failed","error":{})", json(e.what()).dump());
    }
  }
}

}  // namespace loki::webhook
