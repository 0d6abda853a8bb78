// Structural validation of manifests: what `kubectl apply` would reject
// (wrong types, missing names, apiVersions that do not exist for a kind),
// reported with the field so the finding points at its line.
#include <loki/engine.hpp>
#include <loki/json_access.hpp>
#include <loki/podspec.hpp>
#include <loki/selector.hpp>
#include <loki/workload_kinds.hpp>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

namespace loki {

using nlohmann::json;

namespace {

// Served apiVersions per kind for the kinds users put next to agent
// workloads. Removed versions carry the release that removed them.
struct KindVersions {
  std::vector<std::string> served;
  std::vector<std::pair<std::string_view, std::string_view>> removed;  // version, "removed in 1.x"
};

std::map<std::string_view, KindVersions, std::less<>> make_known_kinds() {
  std::map<std::string_view, KindVersions, std::less<>> kinds = {
      {"Service", {{"v1"}, {}}},
      {"ConfigMap", {{"v1"}, {}}},
      {"Secret", {{"v1"}, {}}},
      {"Namespace", {{"v1"}, {}}},
      {"ServiceAccount", {{"v1"}, {}}},
      {"PersistentVolumeClaim", {{"v1"}, {}}},
      {"LimitRange", {{"v1"}, {}}},
      {"ResourceQuota", {{"v1"}, {}}},
      {"Endpoints", {{"v1"}, {}}},
      {"DaemonSet", {{"apps/v1"}, {{"extensions/v1beta1", "1.16"}, {"apps/v1beta2", "1.16"}}}},
      {"NetworkPolicy", {{"networking.k8s.io/v1"}, {{"extensions/v1beta1", "1.16"}}}},
      {"Ingress", {{"networking.k8s.io/v1"}, {{"extensions/v1beta1", "1.22"}, {"networking.k8s.io/v1beta1", "1.22"}}}},
      {"Role", {{"rbac.authorization.k8s.io/v1"}, {{"rbac.authorization.k8s.io/v1beta1", "1.22"}}}},
      {"ClusterRole", {{"rbac.authorization.k8s.io/v1"}, {{"rbac.authorization.k8s.io/v1beta1", "1.22"}}}},
      {"RoleBinding", {{"rbac.authorization.k8s.io/v1"}, {{"rbac.authorization.k8s.io/v1beta1", "1.22"}}}},
      {"ClusterRoleBinding", {{"rbac.authorization.k8s.io/v1"}, {{"rbac.authorization.k8s.io/v1beta1", "1.22"}}}},
      {"PodDisruptionBudget", {{"policy/v1"}, {{"policy/v1beta1", "1.25"}}}},
      {"HorizontalPodAutoscaler", {{"autoscaling/v2", "autoscaling/v1"}, {{"autoscaling/v2beta2", "1.26"}}}},
      {"ValidatingWebhookConfiguration",
       {{"admissionregistration.k8s.io/v1"}, {{"admissionregistration.k8s.io/v1beta1", "1.22"}}}},
      {"MutatingWebhookConfiguration",
       {{"admissionregistration.k8s.io/v1"}, {{"admissionregistration.k8s.io/v1beta1", "1.22"}}}},
      {"CustomResourceDefinition", {{"apiextensions.k8s.io/v1"}, {{"apiextensions.k8s.io/v1beta1", "1.22"}}}},
      {"PriorityClass", {{"scheduling.k8s.io/v1"}, {}}},
      {"CiliumNetworkPolicy", {{"cilium.io/v2"}, {}}},
      {"CiliumClusterwideNetworkPolicy", {{"cilium.io/v2"}, {}}},
      // sigs.k8s.io/network-policy-api v0.3.0: CNP v1beta1 (storage) and v1alpha2 served; ANP/BANP v1alpha1 (v0.1.x).
      {"ClusterNetworkPolicy", {{"policy.networking.k8s.io/v1beta1", "policy.networking.k8s.io/v1alpha2"}, {}}},
      {"AdminNetworkPolicy", {{"policy.networking.k8s.io/v1alpha1"}, {}}},
      {"BaselineAdminNetworkPolicy", {{"policy.networking.k8s.io/v1alpha1"}, {}}},
  };
  for (const WorkloadKind& w : workload_kinds()) {
    if (!w.builtin) continue;
    KindVersions& v = kinds[w.kind];
    v.served = {w.api_version()};
    for (const RemovedVersion& r : w.removed) v.removed.emplace_back(r.api_version, r.release);
  }
  return kinds;
}

const std::map<std::string_view, KindVersions, std::less<>>& known_kinds() {
  static const auto kinds = make_known_kinds();
  return kinds;
}

const std::regex& api_version_syntax() {
  static const std::regex re(
      R"(^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$)");
  return re;
}

std::string describe_value(const json& v) {
  switch (v.type()) {
    case json::value_t::string: {
      std::string s = v.get<std::string>();
      if (s.size() > 40) s = s.substr(0, 40) + "...";
      return "string \"" + s + "\"";
    }
    case json::value_t::boolean:
      return std::string("boolean ") + (v.get<bool>() ? "true" : "false");
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "number " + v.dump();
    case json::value_t::array:
      return "a list";
    case json::value_t::object:
      return "a mapping";
    case json::value_t::null:
      return "null";
    default:
      return v.dump();
  }
}

enum class Type { boolean, integer, string, object, array };
const char* type_word(Type t) {
  switch (t) {
    case Type::boolean:
      return "a boolean";
    case Type::integer:
      return "an integer";
    case Type::string:
      return "a string";
    case Type::object:
      return "a mapping";
    case Type::array:
      return "a list";
  }
  return "";
}

bool has_type(const json& v, Type t) {
  switch (t) {
    case Type::boolean:
      return v.is_boolean();
    case Type::integer:
      return v.is_number_integer();
    case Type::string:
      return v.is_string();
    case Type::object:
      return v.is_object();
    case Type::array:
      return v.is_array();
  }
  return false;
}

// Walks an object with two paths: a JSON pointer (for the line) and the
// dotted form people read in messages ("spec.containers[0].ports").
class Validator {
 public:
  Validator(const Object& o, std::vector<LoadError>& errors) : obj_(o), errors_(errors) {}

  void error(const std::string& pointer, const std::string& dotted, const std::string& message) {
    LoadError e;
    e.file = obj_.file;
    e.line = obj_.line_of(pointer);
    e.object = obj_.ref();
    e.field = pointer;
    e.message = dotted.empty() ? message : "field " + dotted + ": " + message;
    errors_.push_back(std::move(e));
  }

  // Checks the type of parent[key] if present (null counts as absent, as in
  // the API). Returns the value when present and well-typed.
  const json* field(const json& parent, const std::string& ptr, const std::string& dotted, const char* key, Type t,
                    bool required = false) {
    auto it = parent.find(key);
    // The paths are built only for an error: this runs for every field of
    // every object, and almost every field is fine.
    auto dotted_key = [&] { return dotted.empty() ? std::string(key) : dotted + "." + key; };
    if (it == parent.end() || it->is_null()) {
      if (required) error(ptr, dotted_key(), "required field is missing");
      return nullptr;
    }
    if (!has_type(*it, t)) {
      error(ptr + "/" + key, dotted_key(), std::string("expected ") + type_word(t) + ", got " + describe_value(*it));
      return nullptr;
    }
    return &*it;
  }

  void string_map(const json& parent, const std::string& ptr, const std::string& dotted, const char* key, bool labels) {
    const json* m = field(parent, ptr, dotted, key, Type::object);
    if (!m) return;
    for (auto it = m->begin(); it != m->end(); ++it) {
      auto p = [&] { return ptr + "/" + key + "/" + it.key(); };
      auto d = [&] { return (dotted.empty() ? std::string(key) : dotted + "." + key) + "." + it.key(); };
      if (!it->is_string()) {
        error(p(), d(), "expected a string, got " + describe_value(*it) + " (quote it)");
        continue;
      }
      if (labels) {
        if (auto e = validate_label_key(it.key()); !e.empty()) error(p(), d(), e);
        if (auto e = validate_label_value(it->get_ref<const std::string&>()); !e.empty()) error(p(), d(), e);
      }
    }
  }

  void security_context(const json& sc, const std::string& ptr, const std::string& d, bool pod_level) {
    field(sc, ptr, d, "runAsUser", Type::integer);
    field(sc, ptr, d, "runAsGroup", Type::integer);
    field(sc, ptr, d, "runAsNonRoot", Type::boolean);
    if (pod_level) {
      field(sc, ptr, d, "fsGroup", Type::integer);
    } else {
      field(sc, ptr, d, "readOnlyRootFilesystem", Type::boolean);
      field(sc, ptr, d, "allowPrivilegeEscalation", Type::boolean);
      field(sc, ptr, d, "privileged", Type::boolean);
      if (const json* caps = field(sc, ptr, d, "capabilities", Type::object)) {
        for (const char* k : {"add", "drop"}) {
          if (const json* l = field(*caps, ptr + "/capabilities", d + ".capabilities", k, Type::array)) {
            for (std::size_t i = 0; i < l->size(); ++i)
              if (!(*l)[i].is_string())
                error(ptr + "/capabilities/" + k + "/" + std::to_string(i),
                      d + ".capabilities." + k + "[" + std::to_string(i) + "]",
                      "expected a string, got " + describe_value((*l)[i]));
          }
        }
      }
    }
    if (const json* sp = field(sc, ptr, d, "seccompProfile", Type::object)) {
      if (const json* t = field(*sp, ptr + "/seccompProfile", d + ".seccompProfile", "type", Type::string, true)) {
        const auto& v = t->get_ref<const std::string&>();
        if (v != "RuntimeDefault" && v != "Localhost" && v != "Unconfined")
          error(ptr + "/seccompProfile/type", d + ".seccompProfile.type",
                "unsupported value \"" + v + "\": must be RuntimeDefault, Localhost or Unconfined");
      }
    }
  }

  void container(const json& c, const std::string& ptr, const std::string& d) {
    field(c, ptr, d, "name", Type::string, true);
    field(c, ptr, d, "image", Type::string);
    if (const json* ports = field(c, ptr, d, "ports", Type::array)) {
      for (std::size_t i = 0; i < ports->size(); ++i) {
        std::string pp = ptr + "/ports/" + std::to_string(i);
        std::string pd = d + ".ports[" + std::to_string(i) + "]";
        const json& p = (*ports)[i];
        if (!p.is_object()) {
          error(pp, pd, "expected a mapping, got " + describe_value(p));
          continue;
        }
        for (const char* k : {"containerPort", "hostPort"}) {
          if (const json* v = field(p, pp, pd, k, Type::integer)) {
            auto n = v->get<long long>();
            if (n < 0 || n > 65535 || (n == 0 && std::string_view(k) == "containerPort"))
              error(pp + "/" + k, pd + "." + k, "must be between 1 and 65535, got " + std::to_string(n));
          }
        }
        if (const json* proto = field(p, pp, pd, "protocol", Type::string)) {
          const auto& v = proto->get_ref<const std::string&>();
          if (v != "TCP" && v != "UDP" && v != "SCTP")
            error(pp + "/protocol", pd + ".protocol", "unsupported value \"" + v + "\": must be TCP, UDP or SCTP");
        }
      }
    }
    if (const json* env = field(c, ptr, d, "env", Type::array)) {
      for (std::size_t i = 0; i < env->size(); ++i) {
        std::string ep = ptr + "/env/" + std::to_string(i);
        std::string ed = d + ".env[" + std::to_string(i) + "]";
        if (!(*env)[i].is_object()) {
          error(ep, ed, "expected a mapping, got " + describe_value((*env)[i]));
          continue;
        }
        field((*env)[i], ep, ed, "name", Type::string, true);
        field((*env)[i], ep, ed, "value", Type::string);
      }
    }
    field(c, ptr, d, "volumeMounts", Type::array);
    if (const json* sc = field(c, ptr, d, "securityContext", Type::object))
      security_context(*sc, ptr + "/securityContext", d + ".securityContext", false);
  }

  void pod_spec(const json& spec, const std::string& ptr, const std::string& d, bool ephemeral_allowed) {
    for (const char* k : {"hostNetwork", "hostPID", "hostIPC", "automountServiceAccountToken"})
      field(spec, ptr, d, k, Type::boolean);
    field(spec, ptr, d, "volumes", Type::array);
    if (const json* sc = field(spec, ptr, d, "securityContext", Type::object))
      security_context(*sc, ptr + "/securityContext", d + ".securityContext", true);
    for (const char* list : {"containers", "initContainers", "ephemeralContainers"}) {
      bool required = std::string_view(list) == "containers";
      const json* cs = field(spec, ptr, d, list, Type::array, required);
      if (!cs) continue;
      if (required && cs->empty()) error(ptr + "/" + list, d + "." + list, "must have at least one container");
      if (!ephemeral_allowed && std::string_view(list) == "ephemeralContainers" && !cs->empty())
        error(ptr + "/" + list, d + "." + list, "ephemeral containers cannot be set in a pod template");
      for (std::size_t i = 0; i < cs->size(); ++i) {
        std::string cp = ptr + "/" + list + "/" + std::to_string(i);
        std::string cd = d + "." + list + "[" + std::to_string(i) + "]";
        if (!(*cs)[i].is_object()) {
          error(cp, cd, "expected a container mapping, got " + describe_value((*cs)[i]));
          continue;
        }
        container((*cs)[i], cp, cd);
      }
    }
  }

  void network_policy(const json& o) {
    const json* spec = field(o, "", "", "spec", Type::object, true);
    if (!spec) return;
    if (const json* ps = field(*spec, "/spec", "spec", "podSelector", Type::object)) {
      try {
        LabelSelector::from_json(*ps, "spec.podSelector");
      } catch (const SelectorError& e) {
        error("/spec/podSelector", "", e.what());
      }
    }
    if (const json* pt = field(*spec, "/spec", "spec", "policyTypes", Type::array)) {
      for (std::size_t i = 0; i < pt->size(); ++i) {
        const json& v = (*pt)[i];
        if (!v.is_string() || (v != "Ingress" && v != "Egress"))
          error("/spec/policyTypes/" + std::to_string(i), "spec.policyTypes[" + std::to_string(i) + "]",
                "unsupported value " + describe_value(v) + ": must be Ingress or Egress");
      }
    }
    field(*spec, "/spec", "spec", "ingress", Type::array);
    field(*spec, "/spec", "spec", "egress", Type::array);
  }

  void run() {
    const json& o = obj_.json;
    const json* kind = field(o, "", "", "kind", Type::string, true);
    const json* av = field(o, "", "", "apiVersion", Type::string, true);
    if (const json* md = field(o, "", "", "metadata", Type::object, true)) metadata(*md);
    if (!kind || !av) return;
    const std::string& k = kind->get_ref<const std::string&>();
    api_version(k, av->get_ref<const std::string&>());
    if (k == "NetworkPolicy") network_policy(o);
    if (auto paths = pod_template_paths(k)) pod_template(k, *paths);
  }

 private:
  void metadata(const json& md) {
    const json* name = field(md, "/metadata", "metadata", "name", Type::string);
    const json* gen = field(md, "/metadata", "metadata", "generateName", Type::string);
    if (!name && !gen && !md.contains("name")) error("/metadata", "metadata.name", "required field is missing");
    if (name && name->get_ref<const std::string&>().empty())
      error("/metadata/name", "metadata.name", "must not be empty");
    field(md, "/metadata", "metadata", "namespace", Type::string);
    string_map(md, "/metadata", "metadata", "labels", true);
    string_map(md, "/metadata", "metadata", "annotations", false);
  }

  // Served versions of the kinds we know; the syntax of any other.
  void api_version(const std::string& k, const std::string& v) {
    auto known = known_kinds().find(k);
    if (known == known_kinds().end()) {
      if (!std::regex_match(v, api_version_syntax()))
        error("/apiVersion", "apiVersion",
              "\"" + v + "\" is not a Kubernetes group/version (expected e.g. v1, apps/v1, example.com/v1beta1)");
      return;
    }
    const KindVersions& kv = known->second;
    if (std::find(kv.served.begin(), kv.served.end(), v) != kv.served.end()) return;
    std::string expected;
    for (const auto& s : kv.served) expected += (expected.empty() ? "" : " or ") + std::string(s);
    std::string msg = "\"" + v + "\" is not a served apiVersion for " + k + " (use " + expected + ")";
    for (auto [ver, rel] : kv.removed)
      if (ver == v)
        msg = "\"" + v + "\" for " + k + " was removed in Kubernetes " + std::string(rel) + " (use " + expected + ")";
    error("/apiVersion", "apiVersion", msg);
  }

  // Walks down to the pod spec (each step required), reporting the first
  // container that is wrong; then the template's labels.
  void pod_template(const std::string& k, const PodTemplatePaths& paths) {
    std::string ptr;
    std::string dotted;
    const json* cur = &obj_.json;
    std::string_view rest = paths.spec;
    // A Rollout with spec.workloadRef has no template of its own.
    const WorkloadKind* wk = find_workload_kind(k);
    const bool template_optional =
        wk && wk->template_optional && mapping_field(obj_.json, "spec").contains("workloadRef");
    while (!rest.empty()) {
      rest.remove_prefix(1);
      auto slash = rest.find('/');
      std::string key(rest.substr(0, slash));
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
      const bool optional = template_optional && ptr + "/" + key == wk->pod_template;
      cur = field(*cur, ptr, dotted, key.c_str(), Type::object, !optional);
      ptr += "/" + key;
      dotted += (dotted.empty() ? "" : ".") + key;
      if (!cur) return;
    }
    pod_spec(*cur, ptr, dotted, k == "Pod");
    if (k != "Pod") template_metadata(paths.metadata);
  }

  // Template labels must be valid labels too.
  void template_metadata(std::string_view r2) {
    const json* parent = &obj_.json;
    std::string p2, d2;
    while (!r2.empty() && parent) {
      r2.remove_prefix(1);
      auto slash = r2.find('/');
      std::string key(r2.substr(0, slash));
      r2 = slash == std::string_view::npos ? std::string_view() : r2.substr(slash);
      if (r2.empty()) {
        if (const json* tm = field(*parent, p2, d2, key.c_str(), Type::object)) {
          string_map(*tm, p2 + "/" + key, d2 + "." + key, "labels", true);
          string_map(*tm, p2 + "/" + key, d2 + "." + key, "annotations", false);
        }
        break;
      }
      auto it = parent->find(key);
      parent = (it != parent->end() && it->is_object()) ? &*it : nullptr;
      p2 += "/" + key;
      d2 += (d2.empty() ? "" : ".") + key;
    }
  }

  const Object& obj_;
  std::vector<LoadError>& errors_;
};

}  // namespace

std::vector<LoadError> validate_object(const Object& object) {
  std::vector<LoadError> errors;
  Validator(object, errors).run();
  return errors;
}

}  // namespace loki
