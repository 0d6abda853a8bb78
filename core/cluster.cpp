#include <loki/cluster.hpp>
#include <loki/json_access.hpp>
#include <loki/netpol.hpp>
#include <loki/pipeline.hpp>
#include <loki/podspec.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

namespace loki {

using nlohmann::json;

namespace {

const json& meta(const json& o) {
  return mapping_field(o, "metadata");
}

}  // namespace

std::string api_path_of(const json& o) {
  const std::string kind = string_field(o, "kind");
  const std::string ns = string_field(meta(o), "namespace");
  const std::string name = string_field(meta(o), "name");
  // Every object of a snapshot was listed through one of these types.
  if (const ResourceType* rt = resource_for_kind(kind)) return rt->collection_path(ns) + "/" + name;
  const std::string av = string_field(o, "apiVersion");
  std::string plural = kind;  // another kind: the API's usual lower-case plural
  std::transform(plural.begin(), plural.end(), plural.begin(), [](unsigned char c) { return std::tolower(c); });
  plural += plural.ends_with("s") ? "es" : "s";
  if (plural.ends_with("ys")) plural = plural.substr(0, plural.size() - 2) + "ies";
  std::string p = av.find('/') == std::string::npos ? "/api/" + av : "/apis/" + av;
  if (!ns.empty()) p += "/namespaces/" + ns;
  return p + "/" + plural + "/" + name;
}

ClusterSnapshot walk_cluster(KubeClient& client, const WalkOptions& opts) {
  auto t0 = std::chrono::steady_clock::now();
  ClusterSnapshot s;
  s.context = client.config().context;
  s.server = client.config().server;
  const std::string ns = opts.all_namespaces ? std::string() : opts.ns;
  if (!ns.empty()) client.require_namespace(ns);  // a clear "namespace not found"
  auto take = [&](const ResourceType& rt, std::vector<json>& into) {
    ListResult r = client.list(rt, rt.namespaced ? ns : std::string(), opts.chunk_size);
    s.pages += r.pages;
    for (auto& i : r.items) into.push_back(std::move(i));
  };
  take(resources::pods, s.pods);
  take(resources::networkpolicies, s.networkpolicies);
  for (const ResourceType& rt : listed_workload_resources()) take(rt, s.workloads);
  // Namespace labels matter for namespaceSelector; a namespace-scoped user
  // may not list namespaces: fall back to the one namespace, then to its name.
  try {
    take(resources::namespaces, s.namespaces);
  } catch (const KubeError& e) {
    if (e.status != 403 || ns.empty()) throw;
    try {
      json one = client.get("/api/v1/namespaces/" + ns);
      one["apiVersion"] = "v1";
      one["kind"] = "Namespace";
      s.namespaces.push_back(std::move(one));
    } catch (const KubeError& e2) {
      if (e2.status != 403) throw;
      s.namespaces.push_back({{"apiVersion", "v1"},
                              {"kind", "Namespace"},
                              {"metadata", {{"name", ns}, {"labels", {{"kubernetes.io/metadata.name", ns}}}}}});
      s.notes.push_back("cannot read namespace " + ns +
                        " (forbidden): namespaceSelector terms are matched on its name label only");
    }
  }
  // Workload kinds from CRDs (DeploymentConfig, Rollout): listed where the
  // API serves them; a forbidden list is a note, not a failed audit.
  for (const ResourceType& rt : listed_workload_resources(Listing::when_served)) {
    if (!client.serves(rt)) continue;
    try {
      take(rt, s.workloads);
    } catch (const KubeError& e) {
      if (e.status != 403) throw;
      s.notes.push_back("cannot list " + rt.display() + " (forbidden): their pod templates are not checked");
    }
  }
  // ServiceAccounts settle service-account-token for pods that leave the
  // field unset; without them the audit reports those pods as before.
  try {
    take(resources::serviceaccounts, s.serviceaccounts);
  } catch (const KubeError& e) {
    if (e.status != 403) throw;
    s.notes.push_back(
        "cannot list serviceaccounts (forbidden): a ServiceAccount's automountServiceAccountToken: false is not "
        "taken into account");
  }
  s.cilium_served = client.serves(resources::ciliumnetworkpolicies);
  if (s.cilium_served) take(resources::ciliumnetworkpolicies, s.ciliumnetworkpolicies);
  // Cluster-wide network policy (policy.networking.k8s.io) where its CRDs are
  // served: ClusterNetworkPolicy in the newest served version, and the
  // v1alpha1 kinds. Cluster-scoped: a user who may not list them gets a note
  // (the verdicts then leave out the Admin and Baseline tiers).
  const ResourceType* cnp = client.serves(resources::clusternetworkpolicies) ? &resources::clusternetworkpolicies
                            : client.serves(resources::clusternetworkpolicies_v1alpha2)
                                ? &resources::clusternetworkpolicies_v1alpha2
                                : nullptr;
  for (const ResourceType* rt : {cnp, &resources::adminnetworkpolicies, &resources::baselineadminnetworkpolicies}) {
    if (!rt || (rt != cnp && !client.serves(*rt))) continue;
    try {
      take(*rt, s.clusterpolicies);
    } catch (const KubeError& e) {
      if (e.status != 403) throw;
      s.notes.push_back("cannot list " + rt->display() +
                        " (forbidden): the Admin and Baseline tiers of cluster network policy are not evaluated");
    }
  }
  s.api_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.requests = client.stats().requests;
  return s;
}

namespace {

Object live_object(const json& j) {
  Object o;
  o.json = j;
  o.file = api_path_of(j);
  o.line = 0;
  return o;
}

// Ownership of live objects: ownerReferences followed to the top-level
// workload (Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob).
class Owners {
 public:
  explicit Owners(const std::vector<json>& workloads) {
    for (const auto& w : workloads) by_uid_[string_field(meta(w), "uid")] = &w;
  }
  const json* controller_of(const json& o) const {
    auto refs = meta(o).find("ownerReferences");
    if (refs == meta(o).end() || !refs->is_array()) return nullptr;
    for (const auto& r : *refs) {
      if (!r.is_object() || !r.value("controller", false)) continue;
      auto it = by_uid_.find(r.value("uid", ""));
      if (it != by_uid_.end()) return it->second;
    }
    return nullptr;
  }
  const json* top_of(const json& o) const {
    const json* cur = controller_of(o);
    for (int depth = 0; cur && depth < 8; ++depth) {
      const json* up = controller_of(*cur);
      if (!up) break;
      cur = up;
    }
    return cur;
  }

 private:
  std::unordered_map<std::string, const json*> by_uid_;
};

// Pod findings onto their top-level workloads.
class PodGroups {
 public:
  explicit PodGroups(const Owners& owners) : owners_(owners) {}
  void add(Finding f, const json& pod) {
    const json* owner = owners_.top_of(pod);
    const std::string pod_name = string_field(meta(pod), "name");
    ObjectRef owner_ref = owner ? live_object(*owner).ref() : live_object(pod).ref();
    std::string owner_file = owner ? api_path_of(*owner) : api_path_of(pod);
    groups_.add(std::move(f), owner_ref, owner_file, pod_name);
  }
  void flush(std::vector<Finding>& out) { groups_.flush(out); }

 private:
  const Owners& owners_;
  OwnerGroups groups_;
};

}  // namespace

namespace {
// `text` with every occurrence of `what` replaced by `with`.
std::string replace_all(std::string text, const std::string& what, const std::string& with) {
  if (what.empty()) return text;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + with.size()))
    text.replace(pos, what.size(), with);
  return text;
}
constexpr const char* kPodMark = "\x1e";  // where a message named its pod
}  // namespace

void OwnerGroups::add(Finding f, const ObjectRef& owner, const std::string& owner_file, const std::string& pod_name) {
  // Messages that differ only by the pod they name (a network finding on
  // each replica) are one finding of the workload.
  std::string message = replace_all(f.message, pod_name, kPodMark);
  std::string key = owner.display() + "\x1f" + f.rule + "\x1f" + f.container.value_or("") + "\x1f" + message;
  auto [it, fresh] = groups_.try_emplace(key);
  if (fresh) {
    f.object = owner;
    f.file = owner_file;
    it->second.finding = std::move(f);
    it->second.message = std::move(message);
    it->second.first_pod = pod_name;
    order_.push_back(key);
  }
  it->second.pods.push_back(pod_name);
}

void OwnerGroups::flush(std::vector<Finding>& out) {
  for (const auto& key : order_) {
    Group& g = groups_[key];
    std::sort(g.pods.begin(), g.pods.end());
    std::string names;
    for (std::size_t i = 0; i < g.pods.size() && i < 10; ++i) names += (i ? ", " : "") + g.pods[i];
    if (g.pods.size() > 10) names += ", ... (" + std::to_string(g.pods.size()) + " pods)";
    if (g.pods.size() > 1) {
      g.finding.message = replace_all(g.message, kPodMark, "<pod>");
      // The fix named the first pod; it applies to every pod listed.
      g.finding.remediation = replace_all(g.finding.remediation, g.first_pod, "<pod>");
    }
    if (!(g.pods.size() == 1 && g.finding.object.kind == "Pod" && g.finding.object.name == g.pods[0]))
      g.finding.message += " [pods: " + names + "]";
    out.push_back(std::move(g.finding));
  }
  groups_.clear();
  order_.clear();
}

AuditResult audit_snapshot(const ClusterSnapshot& snap, const EngineOptions& opts) {
  AuditResult out;
  const Owners owners(snap.workloads);
  PodGroups groups(owners);
  std::set<std::string> owners_with_pods;
  // Pods by namespace/name, to put network findings on their owners too.
  std::unordered_map<std::string, const json*> pod_by_key;
  Pipeline pipeline(opts);
  std::set<std::string> token_opt_outs;  // ServiceAccounts with automountServiceAccountToken: false
  for (const auto& sa : snap.serviceaccounts)
    if (auto key = service_account_opting_out(live_object(sa), opts.default_namespace)) token_opt_outs.insert(*key);
  PipelineBatch live;  // the live pods, policies and namespaces: what the network pass sees
  for (const auto& pod : snap.pods) {
    ++out.objects;
    const json* owner = owners.top_of(pod);
    if (owner) owners_with_pods.insert(string_field(meta(*owner), "uid"));
    pod_by_key[string_field(meta(pod), "namespace") + "/" + string_field(meta(pod), "name")] = &pod;
    const Object object = live_object(pod);
    auto found = pipeline.check(object, live);
    drop_unmounted_token_findings(found, object, opts.default_namespace, token_opt_outs);
    for (auto& f : found) groups.add(std::move(f), pod);
  }
  for (const auto* list : {&snap.networkpolicies, &snap.ciliumnetworkpolicies, &snap.clusterpolicies, &snap.namespaces})
    for (const auto& j : *list) pipeline.record(live_object(j), live);
  pipeline.submit(std::move(live), 0);
  // The network pass on live pods: pod findings go to their owners, policy
  // findings (policy-selects-nothing means no live pod matches) stay put.
  std::vector<Finding> policy_findings;
  pipeline.network([&](Finding&& f) {
    auto it = f.object.kind == "Pod" ? pod_by_key.find(f.object.ns + "/" + f.object.name) : pod_by_key.end();
    if (it != pod_by_key.end())
      groups.add(std::move(f), *it->second);
    else
      policy_findings.push_back(std::move(f));
  });
  groups.flush(out.findings);
  // Top-level workloads with no live pods: check their templates, so a
  // scaled-to-zero or not-yet-scheduled workload is not a blind spot.
  PipelineBatch templates;  // checked after the network pass, which sees live pods only
  for (const auto& w : snap.workloads) {
    ++out.objects;
    if (owners.controller_of(w)) continue;  // not top-level
    if (owners_with_pods.count(string_field(meta(w), "uid"))) continue;
    const Object object = live_object(w);
    auto found = pipeline.check(object, templates);
    drop_unmounted_token_findings(found, object, opts.default_namespace, token_opt_outs);
    for (auto& f : found) {
      f.message += " [no live pods: checked the pod template]";
      out.findings.push_back(std::move(f));
    }
  }
  out.pods_checked = pipeline.agent_pods() + templates.agent_pods;
  out.pod_templates = pipeline.pod_templates() + templates.pod_templates;
  // Subjects as findings name them: a pod's top-level owner, else the pod.
  std::set<std::string> seen;
  auto add_subject = [&](ObjectRef ref) {
    if (seen.insert(ref.display()).second) out.subjects.push_back(std::move(ref));
  };
  for (auto& ref : pipeline.take_subjects()) {
    auto it = pod_by_key.find(ref.ns + "/" + ref.name);
    const json* owner = it != pod_by_key.end() ? owners.top_of(*it->second) : nullptr;
    add_subject(owner ? live_object(*owner).ref() : std::move(ref));
  }
  for (auto& ref : templates.subjects) add_subject(std::move(ref));
  for (auto& f : policy_findings) out.findings.push_back(std::move(f));
  out.objects += snap.networkpolicies.size() + snap.ciliumnetworkpolicies.size() + snap.clusterpolicies.size() +
                 snap.namespaces.size();
  return out;
}

}  // namespace loki
