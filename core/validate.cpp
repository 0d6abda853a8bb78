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

// Where a field is: a chain of field names and list indexes on the stack.
// The JSON pointer (for the line) and the dotted form people read in messages
// ("spec.containers[0].ports") are made from it only for an error: the walk
// runs over every field of every object, and almost every field is fine.
struct Loc {
  static constexpr std::size_t kField = static_cast<std::size_t>(-1);
  const Loc* parent = nullptr;  // null: the object itself
  std::string_view key;         // a field name, when index == kField
  std::size_t index = kField;   // or a list index

  Loc at(std::string_view k) const { return {this, k, kField}; }
  Loc item(std::size_t i) const { return {this, {}, i}; }

  std::string pointer() const {
    std::string p;
    pointer_to(p);
    return p;
  }
  std::string dotted() const {
    std::string d;
    dotted_to(d);
    return d;
  }

 private:
  void pointer_to(std::string& out) const {
    if (!parent) return;
    parent->pointer_to(out);
    if (index != kField) {
      out += '/';
      out += std::to_string(index);
    } else {
      detail::append_pointer_token(out, key);  // a label key may hold '/' or '~'
    }
  }
  void dotted_to(std::string& out) const {
    if (!parent) return;
    parent->dotted_to(out);
    if (index != kField) {
      out += '[';
      out += std::to_string(index);
      out += ']';
    } else {
      if (!out.empty()) out += '.';
      out += key;
    }
  }
};

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
  void error(const Loc& at, const std::string& message) { error(at.pointer(), at.dotted(), message); }

  // Checks the type of parent[key] if present (null counts as absent, as in
  // the API). Returns the value when present and well-typed.
  const json* field(const json& parent, const Loc& where, std::string_view key, Type t, bool required = false) {
    auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) {
      // The pointer of the mapping that lacks it (it has a line), the name of the field.
      if (required) error(where.pointer(), where.at(key).dotted(), "required field is missing");
      return nullptr;
    }
    if (!has_type(*it, t)) {
      error(where.at(key), std::string("expected ") + type_word(t) + ", got " + describe_value(*it));
      return nullptr;
    }
    return &*it;
  }

  void string_map(const json& parent, const Loc& where, std::string_view key, bool labels) {
    const json* m = field(parent, where, key, Type::object);
    if (!m) return;
    const Loc map = where.at(key);
    for (auto it = m->begin(); it != m->end(); ++it) {
      const Loc entry = map.at(it.key());
      if (!it->is_string()) {
        error(entry, "expected a string, got " + describe_value(*it) + " (quote it)");
        continue;
      }
      if (labels) {
        if (auto e = validate_label_key(it.key()); !e.empty()) error(entry, e);
        if (auto e = validate_label_value(it->get_ref<const std::string&>()); !e.empty()) error(entry, e);
      }
    }
  }

  void security_context(const json& sc, const Loc& at, bool pod_level) {
    field(sc, at, "runAsUser", Type::integer);
    field(sc, at, "runAsGroup", Type::integer);
    field(sc, at, "runAsNonRoot", Type::boolean);
    if (pod_level) {
      field(sc, at, "fsGroup", Type::integer);
    } else {
      field(sc, at, "readOnlyRootFilesystem", Type::boolean);
      field(sc, at, "allowPrivilegeEscalation", Type::boolean);
      field(sc, at, "privileged", Type::boolean);
      if (const json* caps = field(sc, at, "capabilities", Type::object)) {
        const Loc caps_at = at.at("capabilities");
        for (std::string_view k : {"add", "drop"}) {
          if (const json* l = field(*caps, caps_at, k, Type::array)) {
            const Loc list = caps_at.at(k);
            for (std::size_t i = 0; i < l->size(); ++i)
              if (!(*l)[i].is_string()) error(list.item(i), "expected a string, got " + describe_value((*l)[i]));
          }
        }
      }
    }
    if (const json* sp = field(sc, at, "seccompProfile", Type::object)) {
      const Loc sp_at = at.at("seccompProfile");
      if (const json* t = field(*sp, sp_at, "type", Type::string, true)) {
        const auto& v = t->get_ref<const std::string&>();
        if (v != "RuntimeDefault" && v != "Localhost" && v != "Unconfined")
          error(sp_at.at("type"), "unsupported value \"" + v + "\": must be RuntimeDefault, Localhost or Unconfined");
      }
    }
  }

  void container(const json& c, const Loc& at) {
    field(c, at, "name", Type::string, true);
    field(c, at, "image", Type::string);
    if (const json* ports = field(c, at, "ports", Type::array)) {
      const Loc list = at.at("ports");
      for (std::size_t i = 0; i < ports->size(); ++i) {
        const Loc port = list.item(i);
        const json& p = (*ports)[i];
        if (!p.is_object()) {
          error(port, "expected a mapping, got " + describe_value(p));
          continue;
        }
        for (std::string_view k : {"containerPort", "hostPort"}) {
          if (const json* v = field(p, port, k, Type::integer)) {
            auto n = v->get<long long>();
            if (n < 0 || n > 65535 || (n == 0 && k == "containerPort"))
              error(port.at(k), "must be between 1 and 65535, got " + std::to_string(n));
          }
        }
        if (const json* proto = field(p, port, "protocol", Type::string)) {
          const auto& v = proto->get_ref<const std::string&>();
          if (v != "TCP" && v != "UDP" && v != "SCTP")
            error(port.at("protocol"), "unsupported value \"" + v + "\": must be TCP, UDP or SCTP");
        }
      }
    }
    if (const json* env = field(c, at, "env", Type::array)) {
      const Loc list = at.at("env");
      for (std::size_t i = 0; i < env->size(); ++i) {
        const Loc var = list.item(i);
        if (!(*env)[i].is_object()) {
          error(var, "expected a mapping, got " + describe_value((*env)[i]));
          continue;
        }
        field((*env)[i], var, "name", Type::string, true);
        field((*env)[i], var, "value", Type::string);
      }
    }
    field(c, at, "volumeMounts", Type::array);
    if (const json* sc = field(c, at, "securityContext", Type::object))
      security_context(*sc, at.at("securityContext"), false);
  }

  void pod_spec(const json& spec, const Loc& at, bool ephemeral_allowed) {
    for (std::string_view k : {"hostNetwork", "hostPID", "hostIPC", "automountServiceAccountToken"})
      field(spec, at, k, Type::boolean);
    field(spec, at, "volumes", Type::array);
    if (const json* sc = field(spec, at, "securityContext", Type::object))
      security_context(*sc, at.at("securityContext"), true);
    for (std::string_view list : {"containers", "initContainers", "ephemeralContainers"}) {
      bool required = list == "containers";
      const json* cs = field(spec, at, list, Type::array, required);
      if (!cs) continue;
      const Loc list_at = at.at(list);
      if (required && cs->empty()) error(list_at, "must have at least one container");
      if (!ephemeral_allowed && list == "ephemeralContainers" && !cs->empty())
        error(list_at, "ephemeral containers cannot be set in a pod template");
      for (std::size_t i = 0; i < cs->size(); ++i) {
        const Loc c = list_at.item(i);
        if (!(*cs)[i].is_object()) {
          error(c, "expected a container mapping, got " + describe_value((*cs)[i]));
          continue;
        }
        container((*cs)[i], c);
      }
    }
  }

  void network_policy(const json& o) {
    const Loc root;
    const json* spec = field(o, root, "spec", Type::object, true);
    if (!spec) return;
    const Loc spec_at = root.at("spec");
    if (const json* ps = field(*spec, spec_at, "podSelector", Type::object)) {
      try {
        LabelSelector::from_json(*ps, "spec.podSelector");
      } catch (const SelectorError& e) {
        error("/spec/podSelector", "", e.what());
      }
    }
    if (const json* pt = field(*spec, spec_at, "policyTypes", Type::array)) {
      const Loc list = spec_at.at("policyTypes");
      for (std::size_t i = 0; i < pt->size(); ++i) {
        const json& v = (*pt)[i];
        if (!v.is_string() || (v != "Ingress" && v != "Egress"))
          error(list.item(i), "unsupported value " + describe_value(v) + ": must be Ingress or Egress");
      }
    }
    field(*spec, spec_at, "ingress", Type::array);
    field(*spec, spec_at, "egress", Type::array);
  }

  void run() {
    const json& o = obj_.json;
    const Loc root;
    const json* kind = field(o, root, "kind", Type::string, true);
    const json* av = field(o, root, "apiVersion", Type::string, true);
    if (const json* md = field(o, root, "metadata", Type::object, true)) metadata(*md, root.at("metadata"));
    if (!kind || !av) return;
    const std::string& k = kind->get_ref<const std::string&>();
    api_version(k, av->get_ref<const std::string&>());
    if (k == "NetworkPolicy") network_policy(o);
    if (auto paths = pod_template_paths(k)) pod_template(k, *paths);
  }

 private:
  void metadata(const json& md, const Loc& at) {
    const json* name = field(md, at, "name", Type::string);
    const json* gen = field(md, at, "generateName", Type::string);
    if (!name && !gen && !md.contains("name")) error("/metadata", "metadata.name", "required field is missing");
    if (name && name->get_ref<const std::string&>().empty()) error(at.at("name"), "must not be empty");
    field(md, at, "namespace", Type::string);
    string_map(md, at, "labels", true);
    string_map(md, at, "annotations", false);
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

  // The pointer's tokens (no escapes: the kinds' fixed paths).
  static std::vector<std::string_view> tokens(std::string_view pointer) {
    std::vector<std::string_view> out;
    while (!pointer.empty()) {
      pointer.remove_prefix(1);
      auto slash = pointer.find('/');
      out.push_back(pointer.substr(0, slash));
      pointer = slash == std::string_view::npos ? std::string_view() : pointer.substr(slash);
    }
    return out;
  }

  // Walks down to the pod spec (each step required), reporting the first
  // container that is wrong; then the template's labels.
  void pod_template(const std::string& k, const PodTemplatePaths& paths) {
    const json* cur = &obj_.json;
    // A Rollout with spec.workloadRef has no template of its own.
    const WorkloadKind* wk = find_workload_kind(k);
    const bool template_optional =
        wk && wk->template_optional && mapping_field(obj_.json, "spec").contains("workloadRef");
    const std::vector<std::string_view> steps = tokens(paths.spec);
    std::vector<Loc> chain(steps.size() + 1);  // chain[i]: where the i-th step is looked up
    std::size_t consumed = 0;                  // of paths.spec, up to and including steps[i]
    for (std::size_t i = 0; i < steps.size(); ++i) {
      consumed += 1 + steps[i].size();
      const bool optional = template_optional && paths.spec.substr(0, consumed) == wk->pod_template;
      cur = field(*cur, chain[i], steps[i], Type::object, !optional);
      chain[i + 1] = chain[i].at(steps[i]);
      if (!cur) return;
    }
    pod_spec(*cur, chain.back(), k == "Pod");
    if (k != "Pod") template_metadata(paths.metadata);
  }

  // Template labels must be valid labels too.
  void template_metadata(std::string_view metadata) {
    const json* parent = &obj_.json;
    const std::vector<std::string_view> steps = tokens(metadata);
    std::vector<Loc> chain(steps.size() + 1);
    for (std::size_t i = 0; i < steps.size() && parent; ++i) {
      if (i + 1 == steps.size()) {
        if (const json* tm = field(*parent, chain[i], steps[i], Type::object)) {
          const Loc at = chain[i].at(steps[i]);
          string_map(*tm, at, "labels", true);
          string_map(*tm, at, "annotations", false);
        }
        break;
      }
      auto it = parent->find(steps[i]);
      parent = (it != parent->end() && it->is_object()) ? &*it : nullptr;
      chain[i + 1] = chain[i].at(steps[i]);
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
