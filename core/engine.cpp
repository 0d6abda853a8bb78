#include <loki/engine.hpp>
#include <loki/ignore.hpp>
#include <loki/json_access.hpp>
#include <loki/podspec.hpp>
#include <loki/rules.hpp>
#include <nlohmann/json.hpp>

#include <functional>

namespace loki {

using nlohmann::json;

bool is_loki_pod(const Config& config, const Labels& pod_labels) {
  return config.all_pods || config.selector.matches(pod_labels);
}

bool is_agent_pod(const Config& config, const PodTemplate& pod) {
  if (config.all_pods ||
      (pod.metadata ? config.selector.matches_metadata(*pod.metadata) : config.selector.matches(Labels{})))
    return true;
  return declares_egress_promise(containers_of(pod));
}

std::string service_account_key(const PodTemplate& pod, const std::string& ns) {
  std::string name;
  if (auto it = pod.spec->find("serviceAccountName"); it != pod.spec->end() && it->is_string()) name = *it;
  if (name.empty())
    if (auto it = pod.spec->find("serviceAccount"); it != pod.spec->end() && it->is_string()) name = *it;
  return ns + "/" + (name.empty() ? std::string("default") : name);
}

bool pod_sets_token_automount(const PodTemplate& pod) {
  auto it = pod.spec->find("automountServiceAccountToken");
  return it != pod.spec->end() && it->is_boolean();
}

std::optional<std::string> service_account_opting_out(const Object& object, const std::string& default_namespace) {
  const json& j = object.json;
  if (!j.is_object()) return std::nullopt;
  // Every object passes here: compare in place, no copies.
  auto kind = j.find("kind"), api = j.find("apiVersion");
  if (kind == j.end() || api == j.end() || !kind->is_string() || !api->is_string() ||
      kind->get_ref<const std::string&>() != "ServiceAccount" || api->get_ref<const std::string&>() != "v1")
    return std::nullopt;
  auto it = j.find("automountServiceAccountToken");
  if (it == j.end() || !it->is_boolean() || it->get<bool>()) return std::nullopt;
  ObjectRef ref = object.ref(default_namespace);
  if (ref.name.empty()) return std::nullopt;
  return ref.ns + "/" + ref.name;
}

bool token_unmounted_by_service_account(const PodTemplate& pod, const std::string& ns,
                                        const std::set<std::string>& opted_out) {
  if (opted_out.empty() || pod_sets_token_automount(pod)) return false;  // the pod field wins
  return opted_out.count(service_account_key(pod, ns)) > 0;
}

void drop_unmounted_token_findings(std::vector<Finding>& findings, const std::string& service_account,
                                   const std::set<std::string>& opted_out) {
  if (!opted_out.count(service_account)) return;
  std::erase_if(findings, [](const Finding& f) { return f.rule == "service-account-token"; });
}

void drop_unmounted_token_findings(std::vector<Finding>& findings, const Object& object,
                                   const std::string& default_namespace, const std::set<std::string>& opted_out) {
  if (opted_out.empty()) return;
  auto pod = find_pod_template(object.json);
  if (!pod || !token_unmounted_by_service_account(*pod, object.ref(default_namespace).ns, opted_out)) return;
  std::erase_if(findings, [](const Finding& f) { return f.rule == "service-account-token"; });
}

Finding finding_from_load_error(const LoadError& e, const EngineOptions& opts) {
  Finding f;
  f.rule = std::string(rule_id::invalid_manifest);
  f.severity = opts.cfg().severity_of(rule_id::invalid_manifest, Severity::error);
  f.object = e.object;
  if (f.object.ns.empty() && !f.object.kind.empty()) f.object.ns = opts.default_namespace;
  f.file = e.file;
  f.line = e.line;
  f.message = e.message;
  f.field = e.field;
  f.remediation =
      e.remediation.empty() ? std::string(find_rule(rule_id::invalid_manifest)->remediation) : e.remediation;
  return f;
}

const EffectiveSecurityContext& PodContext::security_context(const ContainerRef& c) const {
  // c is an element of `containers` (the checks iterate it), found by its
  // address: a search per call was quadratic in a pod's containers (20,000:
  // 7.2G instructions). Anything else is computed every time.
  const std::less<const ContainerRef*> before;
  const ContainerRef* first = containers.data();
  const bool member = !containers.empty() && !before(&c, first) && before(&c, first + containers.size());
  const std::size_t i = member ? static_cast<std::size_t>(&c - first) : containers.size();
  if (i == containers.size()) {
    thread_local EffectiveSecurityContext scratch;
    scratch = effective_security_context(pod, c);
    return scratch;
  }
  if (security_cache.size() != containers.size()) security_cache.assign(containers.size(), std::nullopt);
  if (!security_cache[i]) security_cache[i] = effective_security_context(pod, c);
  return *security_cache[i];
}

std::vector<Finding> check_object(const Object& object, const EngineOptions& opts) {
  std::vector<Finding> findings;
  const Config& cfg = opts.cfg();
  const ObjectRef ref = object.ref(opts.default_namespace);

  auto add = [&](std::string_view rule, Severity def, std::string field, std::optional<std::string> container,
                 std::string message, std::string remediation) {
    if (!cfg.rule_enabled(rule)) return;
    Finding f;
    f.rule = std::string(rule);
    f.severity = cfg.severity_of(rule, def);
    f.object = ref;
    f.container = std::move(container);
    f.file = object.file;
    f.line = object.line_of(field);
    f.message = std::move(message);
    f.remediation = std::move(remediation);
    f.field = std::move(field);
    findings.push_back(std::move(f));
  };

  if (opts.validate)
    for (auto& e : validate_object(object)) {
      if (object.template_line) {
        e.message = helm_template_note(object.template_line) + e.message;
        e.remediation = std::string(helm_template_remediation);
      }
      Finding f = finding_from_load_error(e, opts);
      if (!cfg.rule_enabled(f.rule)) continue;
      f.object = ref;
      findings.push_back(std::move(f));
    }

  auto pod = find_pod_template(object.json);
  if (pod) {
    if (is_agent_pod(cfg, *pod)) {
      auto containers = containers_of(*pod);
      PodContext ctx{object, *pod, containers, &cfg};
      std::vector<RawFinding> raw;
      const std::string note = pod->inferred ? inferred_kind_note(ref.kind) : std::string();
      for (const auto& rule : all_rules()) {
        if (!rule.check || !cfg.rule_enabled(rule)) continue;
        raw.clear();
        rule.check(ctx, raw);
        for (auto& r : raw)
          add(rule.id, rule.severity, std::move(r.field), std::move(r.container), std::move(r.message) + note,
              std::move(r.remediation));
      }
    }
  }

  // Ignores: honoured only with a reason, and only for rules that exist, so
  // a typo or a bare opt-out does not silently switch a check off.
  auto ignores = ignore_annotations(object, pod);
  for (const auto& ig : ignores) {
    if (!find_rule(ig.rule)) {
      add(rule_id::invalid_ignore, Severity::warning, ig.field, std::nullopt,
          "annotation ignore.loki-guard.io/" + ig.rule + " names no known rule; it has no effect",
          "use one of the ids listed by `loki-audit rules`");
    } else if (blank(ig.reason)) {
      add(rule_id::invalid_ignore, Severity::warning, ig.field, std::nullopt,
          "annotation ignore.loki-guard.io/" + ig.rule + " has no reason; the ignore is not honoured",
          "give the reason as the value: ignore.loki-guard.io/" + ig.rule + ": \"why this is safe here\"");
    }
  }
  for (auto& f : findings) apply_ignores(f, ignores);
  return findings;
}

}  // namespace loki
