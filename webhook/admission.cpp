#include "admission.hpp"

#include <loki/engine.hpp>
#include <loki/json_access.hpp>
#include <loki/pipeline.hpp>
#include <loki/podspec.hpp>
#include <loki/rules.hpp>

#include "mutate.hpp"
#include "response.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace loki::webhook {

using nlohmann::json;

namespace {

// Warnings are shown by kubectl one per line; the API server truncates long
// ones, so keep each to a readable length.
std::string warning_text(const std::string& s) {
  constexpr std::size_t kMax = 250;
  std::string one_line = s;
  std::replace(one_line.begin(), one_line.end(), '\n', ' ');
  if (one_line.size() <= kMax) return one_line;
  return one_line.substr(0, kMax - 3) + "...";
}

struct Context {
  const json* review = nullptr;
  const json* request = nullptr;
  Decision d;
  Response response = Response::Allowed();
};

Context begin(const json& review) {
  Context c;
  c.review = &review;
  c.request = &request_of(review);
  const json& req = *c.request;
  static const json kNull;
  auto field = [&](const char* k) -> const json& {
    auto it = req.find(k);
    return it == req.end() ? kNull : *it;
  };
  c.d.uid = string_field(req, "uid");
  c.d.kind = string_field(field("kind"), "kind");
  c.d.ns = string_field(req, "namespace");
  c.d.operation = string_field(req, "operation");
  c.d.user = string_field(field("userInfo"), "username");
  c.d.name = string_field(req, "name");
  if (c.d.name.empty()) {
    const json& obj = field("object");
    auto md = obj.is_object() ? obj.find("metadata") : obj.end();
    if (obj.is_object() && md != obj.end()) {
      c.d.name = string_field(*md, "name");
      if (c.d.name.empty() && !string_field(*md, "generateName").empty())
        c.d.name = string_field(*md, "generateName") + "*";
    }
  }
  c.d.decision = Verdict::allow;
  return c;
}

Decision finish(Context& c) {
  c.d.api_version = string_field(*c.review, "apiVersion");
  c.d.response = std::move(c.response);
  return std::move(c.d);
}

Mode effective_mode(const Config& config, const ClusterView& cluster, const std::string& ns) {
  if (cluster.namespace_labels && !ns.empty()) {
    Labels l = cluster.namespace_labels(ns);
    if (auto it = l.find(std::string(mode_label)); it != l.end())
      if (auto m = parse_mode(it->second)) return *m;
  }
  return config.mode;
}

bool requires_isolation(const Config& config, const ClusterView& cluster, const std::string& ns) {
  if (cluster.namespace_labels && !ns.empty()) {
    Labels l = cluster.namespace_labels(ns);
    if (auto it = l.find(std::string(require_isolation_label)); it != l.end()) return it->second == "true";
  }
  return config.require_egress_isolation;
}

bool exempt(const Config& config, const std::string& ns) {
  return std::find(config.exempt_namespaces.begin(), config.exempt_namespaces.end(), ns) !=
         config.exempt_namespaces.end();
}

// The break-glass reason on the object or its pod template, if any.
std::string break_glass(const json& object, const std::optional<PodTemplate>& pod) {
  auto from = [](const json* md) -> std::string {
    if (!md || !md->is_object()) return {};
    auto ann = md->find("annotations");
    if (ann == md->end() || !ann->is_object()) return {};
    std::string reason = string_field(*ann, std::string(break_glass_annotation).c_str());
    return reason.find_first_not_of(" \t\n") == std::string::npos ? std::string() : reason;
  };
  auto md = object.find("metadata");
  std::string r = from(md == object.end() ? nullptr : &*md);
  if (r.empty() && pod) r = from(pod->metadata);
  return r;
}

// A JSON pointer as kubectl spells fields: /spec/volumes/0/hostPath/path ->
// spec.volumes[0].hostPath.path.
std::string field_path(const std::string& pointer) {
  std::string out;
  std::size_t pos = 1;
  while (pos <= pointer.size() && !pointer.empty()) {
    std::size_t next = pointer.find('/', pos);
    std::string tok = pointer.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    for (std::size_t i = 0; (i = tok.find('~', i)) != std::string::npos && i + 1 < tok.size(); ++i)
      tok.replace(i, 2, tok[i + 1] == '1' ? "/" : "~");
    bool index = !tok.empty() && tok.find_first_not_of("0123456789") == std::string::npos;
    out += index ? "[" + tok + "]" : (out.empty() ? "" : ".") + tok;
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return out;
}

// "[rule] message (field)": the field tells the user which line to change.
std::string describe(const Finding& f) {
  std::string s = "[" + f.rule + "] ";
  if (f.container && f.message.find(*f.container) == std::string::npos) s += "container " + *f.container + ": ";
  s += f.message;
  // A whole pod spec (the finding is about something missing from it) names nothing useful.
  bool whole_spec = f.field.size() >= 5 && f.field.compare(f.field.size() - 5, 5, "/spec") == 0;
  if (f.field.size() > 1 && !whole_spec) s += " (" + field_path(f.field) + ")";
  return s;
}

// The pipeline of one admission. The API server has validated the object
// (manifest checks are for files); records without a namespace are in the
// review's. pod_only: only findings about the pod matter, so the network
// rules about policies are off.
Pipeline admission_pipeline(const Config& config, const std::string& ns, bool pod_only) {
  EngineOptions eo;
  eo.shared_config = &config;  // outlives the review's pipeline; not copied per request
  eo.pod_rules_only = pod_only;
  eo.default_namespace = ns;
  eo.validate = false;
  return Pipeline(std::move(eo));
}

// Findings of the network pass about the pod `me`, whose record is in `pod`.
std::vector<Finding> network_findings(Pipeline& pipeline, PipelineBatch&& pod, const ObjectRef& me,
                                      const ClusterView& cluster, const std::string& ns) {
  PipelineBatch around;  // the cluster's policies and namespaces
  if (cluster.fill) cluster.fill(ns, around.inventory);
  pipeline.submit(std::move(pod), 0);
  pipeline.submit(std::move(around), 0);
  std::vector<Finding> out;
  // In the cache's order, as the webhook has always run them (not sorted by file).
  pipeline.network(
      [&](Finding&& f) {
        if (f.object.kind == me.kind && f.object.name == me.name && f.object.ns == me.ns) out.push_back(std::move(f));
      },
      false);
  return out;
}

bool egress_open(const Finding& f) {
  const Rule* r = find_rule(f.rule);
  return r && r->egress_open;
}

// Applies mode and actions: violations deny (or warn, or only log).
void settle(Context& c, Mode mode, const std::vector<std::pair<Finding, Action>>& judged, const std::string& subject) {
  std::vector<const Finding*> violations;
  std::vector<std::string> warnings;
  for (const auto& [f, action] : judged) {
    c.d.findings.push_back(f);
    if (action == Action::off) continue;
    c.d.rules.push_back(f.rule);
    if (action == Action::deny)
      violations.push_back(&f);
    else
      warnings.push_back(warning_text(describe(f)));
  }
  if (!violations.empty()) {
    if (mode == Mode::enforce) {
      std::string msg = "loki-guard denied " + subject + ": " + std::to_string(violations.size()) + " violation" +
                        (violations.size() == 1 ? "" : "s") + "\n";
      for (const Finding* f : violations) msg += describe(*f) + "\n  fix: " + f->remediation + "\n";
      c.response = Response::Denied(msg);
      c.d.decision = Verdict::deny;
    } else {
      for (const Finding* f : violations) warnings.push_back(warning_text("(would deny) " + describe(*f)));
      c.d.decision = mode == Mode::warn ? Verdict::warn : Verdict::dry_run_deny;
    }
  } else if (!warnings.empty()) {
    c.d.decision = Verdict::warn;
  }
  if (mode == Mode::dry_run) warnings.clear();  // dry-run: log only
  if (!warnings.empty()) c.response.with_warnings(std::move(warnings));
}

using Judged = std::vector<std::pair<Finding, Action>>;

// What the webhook does with each per-object finding of the object under review.
void judge_object(std::vector<Finding>&& found, const Context& c, const PodTemplate& pod, const Config& config,
                  bool ephemeral, Judged& judged) {
  std::set<std::string> ephemeral_names;  // container names are unique across the pod's lists
  if (ephemeral)
    for (const auto& ref : containers_of(pod))
      if (ref.kind == ContainerKind::ephemeral) ephemeral_names.insert(ref.name);
  for (auto& f : found) {
    // The API server validates schemas; our manifest checks are for files.
    if (f.rule == rule_id::invalid_manifest || f.suppressed) continue;
    // Judge the ephemeral containers only, including what they inherit from
    // the pod (a pod-level runAsUser 0 is reported at the pod's field).
    if (ephemeral && f.field.rfind(pod.spec_path + "/ephemeralContainers", 0) != 0 &&
        !(f.container && ephemeral_names.count(*f.container)))
      continue;
    Action a = config.action_of(f.rule);
    if (a == Action::patch) {
      // The mutating webhook fills these in on Pod creation; still present
      // here means it is not installed or the field was set explicitly.
      if (c.d.kind != "Pod" && !config.mutation.workloads) {
        a = Action::warn;
        f.message += " (its pods will be patched at creation)";
      } else {
        a = Action::deny;
      }
    }
    judged.emplace_back(std::move(f), a);
  }
}

// The policy cache cannot say whether the pod's egress is isolated.
Finding state_unknown(const Object& o, const Config& config, const ClusterView& cluster, const std::string& ns) {
  Finding f;
  f.rule = std::string(checks::rule_egress_unrestricted.id);
  f.severity = Severity::error;
  f.object = o.ref(ns);
  f.message = "NetworkPolicy state is unknown (" + cluster.unavailable_reason + "); " +
              (config.cache_unavailable == "deny" ? "refusing (cacheUnavailable: deny, fail closed)"
                                                  : "admitting (cacheUnavailable: allow, fail open)");
  f.remediation = "retry when the webhook's policy cache has synced (GET /readyz)";
  return f;
}

// The network findings about the pod (its record in `pod`), judged: open
// egress is denied only where isolation is required.
void judge_network(Pipeline& pipeline, PipelineBatch&& pod, const Object& o, const Config& config,
                   const ClusterView& cluster, const std::string& ns, Judged& judged) {
  const netpol::PodInfo* info = pod.inventory.pods.empty() ? nullptr : &pod.inventory.pods.front();
  std::string promise = info && info->egress_policy().present ? info->egress_policy().value : "";
  bool must_isolate = requires_isolation(config, cluster, ns) || promise == "none" || promise == "ai-only";
  if (!cluster.available) {
    if (must_isolate)
      judged.emplace_back(state_unknown(o, config, cluster, ns),
                          config.cache_unavailable == "deny" ? Action::deny : Action::warn);
    return;
  }
  for (auto& f : network_findings(pipeline, std::move(pod), o.ref(ns), cluster, ns)) {
    if (f.suppressed) continue;
    Action a = config.action_of(f.rule);
    if (egress_open(f) && a == Action::deny && !must_isolate) a = Action::warn;
    judged.emplace_back(std::move(f), a);
  }
}

void validate_pod_like(Context& c, json&& object, const Config& config, const ClusterView& cluster) {
  const std::string& ns = c.d.ns;
  Object o;
  o.json = std::move(object);  // the review's own copy: moved, not copied (~15% of a review's cost)
  o.file = "admission";
  auto pod = find_pod_template(o.json);
  if (!pod) return;
  if (!is_agent_pod(config, *pod)) {
    c.d.decision = Verdict::skip;
    return;
  }
  if (std::string reason = break_glass(o.json, pod); !reason.empty()) {
    c.d.decision = Verdict::break_glass;
    c.d.patch_summary = "break-glass: " + reason;
    c.response =
        Response::Allowed().with_warnings({warning_text("loki-guard: admitted by break-glass annotation: " + reason)});
    return;
  }
  const bool ephemeral = string_field(*c.request, "subResource") == "ephemeralcontainers";
  Pipeline pipeline = admission_pipeline(config, ns, true);
  PipelineBatch me;  // the object's network record, for the network pass
  Judged judged;
  std::vector<Finding> found = pipeline.check(o, me);
  // As `loki-audit` (core/cluster.cpp): the pod's ServiceAccount may settle
  // service-account-token. Unknown (cache not synced, or a watch down: a
  // ServiceAccount may have turned automount back on): the finding stays,
  // erring toward the unsafe side, as before the webhook read them.
  if (auto opt_outs = cluster.available && cluster.token_opt_outs ? cluster.token_opt_outs(ns) : nullptr)
    drop_unmounted_token_findings(found, o, ns, *opt_outs);
  judge_object(std::move(found), c, *pod, config, ephemeral, judged);
  if (!ephemeral && c.d.operation != "DELETE") judge_network(pipeline, std::move(me), o, config, cluster, ns, judged);
  settle(c, effective_mode(config, cluster, ns), judged, c.d.kind + " " + ns + "/" + c.d.name);
}

// The live loki-mode pods of the namespace whose egress is open, before or
// after the policy change under review.
std::set<std::string> open_pods(const Context& c, const Config& config, const ClusterView& cluster, bool after,
                                const std::string& ns) {
  const json& req = *c.request;
  const bool cluster_kind = netpol::is_cluster_policy_kind(c.d.kind);
  Pipeline pipeline = admission_pipeline(config, ns, false);
  PipelineBatch batch;
  if (cluster.fill) cluster.fill(ns, batch.inventory);
  if (after) {
    batch.inventory.policies.erase_if([&](const netpol::Policy& p) {
      if (cluster_kind) return p.is_cluster() && p.ref.kind == c.d.kind && p.ref.name == c.d.name;
      return !p.is_cilium() && !p.is_cluster() == (c.d.kind == "NetworkPolicy") && p.ns == ns && p.ref.name == c.d.name;
    });
    if (c.d.operation != "DELETE" && req.contains("object") && req["object"].is_object()) {
      Object o;
      o.json = req["object"];
      o.file = "admission";
      pipeline.record(o, batch);
    }
  }
  cluster.pods(ns, config, batch.inventory);
  pipeline.submit(std::move(batch), 0);
  std::set<std::string> open;
  pipeline.network(
      [&](Finding&& f) {
        if (egress_open(f) && f.object.kind == "Pod") open.insert(f.object.name);
      },
      false);
  return open;
}

// A NetworkPolicy change that leaves running loki-mode pods egress-open.
void validate_policy_change(Context& c, const Config& config, const ClusterView& cluster) {
  if (config.network_policy_changes == Action::off) return;
  const std::string& ns = c.d.ns;
  if (!cluster.available || !cluster.pods) return;  // nothing to compare against
  std::set<std::string> before = open_pods(c, config, cluster, false, ns),
                        after = open_pods(c, config, cluster, true, ns);
  std::vector<std::string> newly;
  for (const auto& p : after)
    if (!before.count(p)) newly.push_back(p);
  if (newly.empty()) return;
  std::string list;
  for (std::size_t i = 0; i < newly.size() && i < 10; ++i) list += (i ? ", " : "") + newly[i];
  if (newly.size() > 10) list += ", ... (" + std::to_string(newly.size()) + " pods)";
  Finding f;
  f.rule = std::string(checks::rule_egress_unrestricted.id);
  f.severity = Severity::error;
  f.object = {"networking.k8s.io/v1", c.d.kind, ns, c.d.name};
  f.message = "this " + c.d.operation + " would leave running loki-mode pods with unrestricted egress: " + list;
  f.remediation = "keep a policy with policyTypes: [Egress] that selects these pods, or move them first";
  settle(c, effective_mode(config, cluster, ns), {{f, config.network_policy_changes}},
         c.d.kind + " " + ns + "/" + c.d.name);
}

// An AdminNetworkPolicy / BaselineAdminNetworkPolicy / ClusterNetworkPolicy
// change that leaves running loki-mode pods egress-open, in any namespace:
// deleting an Admin Deny, turning it into a Pass into a namespace no
// NetworkPolicy isolates, narrowing its subject.
void validate_cluster_policy_change(Context& c, const Config& config, const ClusterView& cluster) {
  if (config.network_policy_changes == Action::off) return;
  if (!cluster.available || !cluster.pods || !cluster.pod_namespaces) return;  // nothing to compare against
  std::vector<std::string> newly;
  std::size_t count = 0;
  for (const std::string& ns : cluster.pod_namespaces()) {
    if (exempt(config, ns)) continue;
    std::set<std::string> before = open_pods(c, config, cluster, false, ns),
                          after = open_pods(c, config, cluster, true, ns);
    for (const auto& p : after)
      if (!before.count(p) && ++count <= 10) newly.push_back(ns + "/" + p);
  }
  if (newly.empty()) return;
  std::string list;
  for (std::size_t i = 0; i < newly.size(); ++i) list += (i ? ", " : "") + newly[i];
  if (count > 10) list += ", ... (" + std::to_string(count) + " pods)";
  Finding f;
  f.rule = std::string(checks::rule_egress_unrestricted.id);
  f.severity = Severity::error;
  f.object = {"policy.networking.k8s.io", c.d.kind, "", c.d.name};
  f.message = "this " + c.d.operation + " of " + c.d.kind + " " + c.d.name +
              " would leave running loki-mode pods with open egress: " + list;
  f.remediation = "keep the Admin-tier Deny (or a default-deny egress NetworkPolicy) that covers these pods";
  settle(c, effective_mode(config, cluster, ""), {{f, config.network_policy_changes}}, c.d.kind + " " + c.d.name);
}

}  // namespace

void add_live_pods(const std::vector<json>& pods, const std::string& ns, const Config& config,
                   netpol::Inventory& into) {
  for (const auto& p : pods) {
    Object o;
    o.json = p;
    o.file = "live";
    into.add(o, config, ns);
  }
}

json Decision::review() const {
  return {{"apiVersion", api_version}, {"kind", "AdmissionReview"}, {"response", response.to_json(uid)}};
}

std::string Decision::body() const {
  std::string out;
  out.reserve(96 + uid.size());
  out += R"({"apiVersion":)";
  if (!append_json_string(out, api_version)) return review().dump();
  out += R"(,"kind":"AdmissionReview","response":)";
  if (!response.write(out, uid)) return review().dump();  // invalid UTF-8: dump() says so, as it always has
  out += '}';
  return out;
}

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::allow:
      return "allow";
    case Verdict::deny:
      return "deny";
    case Verdict::warn:
      return "warn";
    case Verdict::patch:
      return "patch";
    case Verdict::skip:
      return "skip";
    case Verdict::dry_run_deny:
      return "dry-run-deny";
    case Verdict::dry_run_patch:
      return "dry-run-patch";
    case Verdict::break_glass:
      return "break-glass";
  }
  return "allow";
}

const json& request_of(const json& review) {
  if (!review.is_object()) throw BadReview("body is not a JSON object");
  std::string av = string_field(review, "apiVersion");
  if (av != "admission.k8s.io/v1" && av != "admission.k8s.io/v1beta1")
    throw BadReview("apiVersion \"" + av + "\" is not admission.k8s.io/v1");
  if (string_field(review, "kind") != "AdmissionReview") throw BadReview("kind is not AdmissionReview");
  auto req = review.find("request");
  if (req == review.end() || !req->is_object()) throw BadReview("request is missing");
  if (string_field(*req, "uid").empty()) throw BadReview("request.uid is missing");
  auto kind = req->find("kind");
  if (kind == req->end() || !kind->is_object() || string_field(*kind, "kind").empty())
    throw BadReview("request.kind is missing");
  if (string_field(*req, "operation").empty()) throw BadReview("request.operation is missing");
  if (auto o = req->find("object"); o != req->end() && !o->is_null() && !o->is_object())
    throw BadReview("request.object is not an object");
  return *req;
}

Decision validate(json review, const Config& config, const ClusterView& cluster) {
  Context c = begin(std::as_const(review));
  if (exempt(config, c.d.ns)) {
    c.d.decision = Verdict::skip;
    return finish(c);
  }
  const std::string& op = c.d.operation;
  if (c.d.kind == "NetworkPolicy" || c.d.kind == "CiliumNetworkPolicy") {
    validate_policy_change(c, config, cluster);
  } else if (netpol::is_cluster_policy_kind(c.d.kind)) {
    validate_cluster_policy_change(c, config, cluster);
  } else if (is_workload_kind(c.d.kind) && op != "DELETE" && op != "CONNECT") {
    // request.object is not read again: hand it over.
    json& request = review["request"];
    auto o = request.find("object");
    if (o != request.end() && o->is_object()) validate_pod_like(c, std::move(*o), config, cluster);
  } else {
    c.d.decision = Verdict::skip;
  }
  return finish(c);
}

Decision mutate(const json& review, const Config& config, const ClusterView& cluster) {
  Context c = begin(review);
  const json& req = *c.request;
  const bool workload = c.d.kind != "Pod" && is_workload_kind(c.d.kind);
  // Pod specs are immutable after creation: patch on CREATE only. Templates
  // only when configured (GitOps tools would otherwise see drift).
  bool applicable = (c.d.kind == "Pod" && c.d.operation == "CREATE" && string_field(req, "subResource").empty()) ||
                    (workload && config.mutation.workloads && (c.d.operation == "CREATE" || c.d.operation == "UPDATE"));
  auto obj = req.find("object");
  if (!applicable || exempt(config, c.d.ns) || obj == req.end() || !obj->is_object()) {
    c.d.decision = Verdict::skip;
    return finish(c);
  }
  auto pod = find_pod_template(*obj);
  if (!pod || !is_agent_pod(config, *pod) || !break_glass(*obj, pod).empty()) {
    c.d.decision = Verdict::skip;
    return finish(c);
  }
  // What validation does not report, mutation does not patch: no
  // automountServiceAccountToken where the ServiceAccount already mounts no
  // token. Unknown (cache not synced): patched, as before.
  std::vector<std::string_view> settled;
  if (auto opt_outs = cluster.available && cluster.token_opt_outs ? cluster.token_opt_outs(c.d.ns) : nullptr)
    if (token_unmounted_by_service_account(*pod, c.d.ns, *opt_outs))
      settled.push_back(checks::rule_service_account_token.id);
  auto paths = pod_template_paths(c.d.kind);
  MutationResult m = mutate_pod(*obj, paths->spec, paths->metadata, config, settled);
  for (const auto& ch : m.changes) c.d.patch_summary += (c.d.patch_summary.empty() ? "" : ",") + ch;
  if (m.patch.empty()) {
    c.d.decision = Verdict::allow;
    return finish(c);
  }
  if (effective_mode(config, cluster, c.d.ns) == Mode::dry_run) {
    c.d.decision = Verdict::dry_run_patch;
    return finish(c);
  }
  c.d.decision = Verdict::patch;
  c.response = Response::Patched(m.patch);
  return finish(c);
}

}  // namespace loki::webhook
