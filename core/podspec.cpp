#include <loki/json_access.hpp>
#include <loki/podspec.hpp>
#include <loki/workload_kinds.hpp>

#include <nlohmann/json.hpp>

namespace loki {

using nlohmann::json;

std::optional<PodTemplatePaths> pod_template_paths(std::string_view kind) {
  const WorkloadKind* k = find_workload_kind(kind);
  if (!k) return std::nullopt;
  return PodTemplatePaths{k->spec_pointer(), k->metadata_pointer()};
}

bool is_workload_kind(std::string_view kind) {
  return find_workload_kind(kind) != nullptr;
}

std::string inferred_kind_note(std::string_view kind) {
  return " [kind " + std::string(kind) +
         " is not a known workload kind: its pod template was inferred from spec.template.spec]";
}

namespace {
const PodTemplatePaths kInferredTemplate{"/spec/template/spec", "/spec/template/metadata"};

// The pointers of every workload kind, made once, in workload_kinds() order
// (every object asks; building them each time was most of the lookup).
const PodTemplatePaths& paths_of(const WorkloadKind& k) {
  static const std::vector<PodTemplatePaths> all = [] {
    std::vector<PodTemplatePaths> v;
    for (const WorkloadKind& w : workload_kinds()) v.push_back({w.spec_pointer(), w.metadata_pointer()});
    return v;
  }();
  return all[static_cast<std::size_t>(&k - workload_kinds().data())];
}

// The value at a pointer of plain tokens (no ~ escapes), or null.
const json* at(const json& root, std::string_view pointer) {
  const json* cur = &root;
  std::size_t pos = 1;
  while (pos <= pointer.size() && !pointer.empty()) {
    auto next = pointer.find('/', pos);
    std::string_view key = pointer.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos);
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return cur;
}
}  // namespace

std::optional<PodTemplate> find_pod_template(const json& object) {
  if (!object.is_object()) return std::nullopt;
  auto kind = object.find("kind");
  if (kind == object.end() || !kind->is_string()) return std::nullopt;
  const WorkloadKind* known = find_workload_kind(kind->get_ref<const std::string&>());
  const PodTemplatePaths* paths = known ? &paths_of(*known) : nullptr;
  bool inferred = false;
  if (!paths) {
    // Another kind (a CRD: Knative, KubeVela, an in-house controller) that
    // carries a pod template where the apps/v1 kinds do: check it too, and
    // say the kind was inferred.
    const json* s = at(object, kInferredTemplate.spec);
    if (!s || !s->is_object() || !s->contains("containers") || !(*s)["containers"].is_array()) return std::nullopt;
    paths = &kInferredTemplate;
    inferred = true;
  }
  const json* spec = at(object, paths->spec);
  if (!spec || !spec->is_object()) return std::nullopt;
  PodTemplate t;
  t.inferred = inferred;
  t.spec = spec;
  t.spec_path = paths->spec;
  t.metadata = at(object, paths->metadata);
  t.metadata_path = paths->metadata;
  return t;
}

std::string_view to_string(ContainerKind k) {
  switch (k) {
    case ContainerKind::container:
      return "container";
    case ContainerKind::init:
      return "init container";
    case ContainerKind::ephemeral:
      return "ephemeral container";
  }
  return "container";
}

std::vector<ContainerRef> containers_of(const PodTemplate& pod) {
  std::vector<ContainerRef> out;
  static constexpr std::pair<const char*, ContainerKind> lists[] = {{"initContainers", ContainerKind::init},
                                                                    {"containers", ContainerKind::container},
                                                                    {"ephemeralContainers", ContainerKind::ephemeral}};
  for (auto [field, kind] : lists) {
    auto it = pod.spec->find(field);
    if (it == pod.spec->end() || !it->is_array()) continue;
    for (std::size_t i = 0; i < it->size(); ++i) {
      const json& c = (*it)[i];
      if (!c.is_object()) continue;
      ContainerRef ref{&c, pod.spec_path + "/" + field + "/" + std::to_string(i), "", kind};
      auto n = c.find("name");
      ref.name = (n != c.end() && n->is_string()) ? n->get<std::string>() : std::string("#").append(std::to_string(i));
      out.push_back(std::move(ref));
    }
  }
  return out;
}

std::vector<ContainerPort> ports_of(const ContainerRef& c) {
  std::vector<ContainerPort> out;
  const json* ports = member(*c.json, "ports");
  if (!ports || !ports->is_array()) return out;
  for (std::size_t i = 0; i < ports->size(); ++i) {
    const json& p = (*ports)[i];
    if (!p.is_object()) continue;
    ContainerPort cp{i, {}, {}, {}, {}};
    if (const json* n = member(p, "name"); n && n->is_string()) cp.name = n->get<std::string>();
    if (const json* n = member(p, "containerPort"); n && n->is_number_integer())
      cp.container_port = n->get<long long>();
    if (const json* n = member(p, "hostPort"); n && n->is_number_integer()) cp.host_port = n->get<long long>();
    if (const json* n = member(p, "protocol"); n && n->is_string()) cp.protocol = n->get<std::string>();
    out.push_back(std::move(cp));
  }
  return out;
}

std::vector<EnvRef> env_entries(const std::vector<ContainerRef>& containers, std::string_view name) {
  std::vector<EnvRef> out;
  for (const auto& c : containers) {
    auto env = c.json->find("env");
    if (env == c.json->end() || !env->is_array()) continue;
    for (std::size_t i = 0; i < env->size(); ++i) {
      const json& e = (*env)[i];
      if (!e.is_object()) continue;
      auto n = e.find("name");
      if (n != e.end() && n->is_string() && n->get_ref<const std::string&>() == name) out.push_back({&c, i, &e});
    }
  }
  return out;
}

bool declares_egress_promise(const std::vector<ContainerRef>& containers) {
  for (const EnvRef& e : env_entries(containers, "LOKI_NETWORK_EGRESS_POLICY")) {
    auto v = e.entry->find("value");
    if (v != e.entry->end() && v->is_string() && !v->get_ref<const std::string&>().empty()) return true;
  }
  return false;
}

namespace {
template <class T>
std::optional<T> get_opt(const json* obj, const char* key) {
  if (!obj || !obj->is_object()) return std::nullopt;
  auto it = obj->find(key);
  if (it == obj->end()) return std::nullopt;
  if constexpr (std::is_same_v<T, bool>) {
    if (it->is_boolean()) return it->get<bool>();
  } else if constexpr (std::is_same_v<T, long long>) {
    if (it->is_number_integer()) return it->get<long long>();
  } else {
    if (it->is_string()) return it->get<std::string>();
  }
  return std::nullopt;
}

const json* sub(const json* obj, const char* key) {
  if (!obj || !obj->is_object()) return nullptr;
  auto it = obj->find(key);
  return it == obj->end() || !it->is_object() ? nullptr : &*it;
}

std::vector<std::string> strings(const json* obj, const char* key) {
  std::vector<std::string> out;
  if (!obj || !obj->is_object()) return out;
  auto it = obj->find(key);
  if (it == obj->end() || !it->is_array()) return out;
  for (auto& v : *it)
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}
}  // namespace

EffectiveSecurityContext effective_security_context(const PodTemplate& pod, const ContainerRef& c) {
  EffectiveSecurityContext e;
  const json* psc = sub(pod.spec, "securityContext");
  const json* csc = sub(c.json, "securityContext");
  const std::string psc_path = pod.spec_path + "/securityContext";
  const std::string csc_path = c.path + "/securityContext";

  // Inherited fields: the container's value wins when set.
  if (auto v = get_opt<bool>(csc, "runAsNonRoot")) {
    e.runAsNonRoot = v;
    e.runAsNonRootPath = csc_path + "/runAsNonRoot";
  } else if (auto pv = get_opt<bool>(psc, "runAsNonRoot")) {
    e.runAsNonRoot = pv;
    e.runAsNonRootPath = psc_path + "/runAsNonRoot";
  }
  if (auto v = get_opt<long long>(csc, "runAsUser")) {
    e.runAsUser = v;
    e.runAsUserPath = csc_path + "/runAsUser";
  } else if (auto pv = get_opt<long long>(psc, "runAsUser")) {
    e.runAsUser = pv;
    e.runAsUserPath = psc_path + "/runAsUser";
  }
  if (auto v = get_opt<std::string>(sub(csc, "seccompProfile"), "type")) {
    e.seccompType = v;
    e.seccompPath = csc_path + "/seccompProfile/type";
  } else if (auto pv = get_opt<std::string>(sub(psc, "seccompProfile"), "type")) {
    e.seccompType = pv;
    e.seccompPath = psc_path + "/seccompProfile/type";
  }
  // Container-only fields.
  e.readOnlyRootFilesystem = get_opt<bool>(csc, "readOnlyRootFilesystem");
  e.allowPrivilegeEscalation = get_opt<bool>(csc, "allowPrivilegeEscalation");
  e.privileged = get_opt<bool>(csc, "privileged");
  const json* caps = sub(csc, "capabilities");
  e.capAdd = strings(caps, "add");
  e.capDrop = strings(caps, "drop");
  return e;
}

}  // namespace loki
