#include "mutate.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

namespace loki::webhook {

using nlohmann::json;

namespace {

json& at_path(json& root, const std::string& pointer) {
  // Creates missing objects along the way (the template always exists here).
  json* cur = &root;
  std::size_t pos = 1;
  while (pos <= pointer.size() && !pointer.empty()) {
    auto next = pointer.find('/', pos);
    std::string key = pointer.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    if (!cur->is_object()) *cur = json::object();
    cur = &(*cur)[key];
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return *cur;
}

json& object_field(json& parent, const char* key) {
  json& v = parent[key];
  if (!v.is_object()) v = json::object();
  return v;
}

bool is_set(const json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && !obj[key].is_null();
}

bool flag(const json& obj, const char* key) {
  if (!obj.is_object()) return false;
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

bool is_root(const json& sc) {
  if (!sc.is_object()) return false;
  auto it = sc.find("runAsUser");
  return it != sc.end() && it->is_number_integer() && it->get<long long>() == 0;
}

void note(std::vector<std::string>& changes, const std::string& what) {
  if (std::find(changes.begin(), changes.end(), what) == changes.end()) changes.push_back(what);
}

}  // namespace

MutationResult mutate_pod(const json& object, const std::string& spec_path, const std::string& meta_path,
                          const Config& config) {
  MutationResult r;
  r.patched = object;
  json& spec = at_path(r.patched, spec_path);
  if (!spec.is_object()) {
    r.patch = json::array();
    return r;
  }
  json& psc = object_field(spec, "securityContext");
  // Only what the config says to patch (rules.<id>.action: patch).
  auto patches = [&](std::string_view rule) { return config.action_of(rule) == Action::patch; };

  static const char* lists[] = {"initContainers", "containers"};
  auto for_each_container = [&](auto&& fn) {
    for (const char* l : lists) {
      auto it = spec.find(l);
      if (it == spec.end() || !it->is_array()) continue;
      for (auto& c : *it)
        if (c.is_object()) fn(c);
    }
  };

  // seccomp: a pod-level RuntimeDefault covers every container that sets
  // none; an explicit container profile (even Unconfined) is left alone.
  if (patches("missing-seccomp") && !is_set(psc, "seccompProfile")) {
    psc["seccompProfile"] = {{"type", "RuntimeDefault"}};
    note(r.changes, "seccompProfile");
  }

  // Non-root: only when nothing asks for root explicitly.
  bool explicit_root = is_root(psc);
  for_each_container([&](json& c) {
    if (auto sc = c.find("securityContext"); sc != c.end() && is_root(*sc)) explicit_root = true;
  });
  if (patches("run-as-root") && !explicit_root) {
    if (!is_set(psc, "runAsNonRoot")) {
      psc["runAsNonRoot"] = true;
      note(r.changes, "runAsNonRoot");
    }
    bool any_user = is_set(psc, "runAsUser");
    for_each_container([&](json& c) {
      if (c.contains("securityContext") && is_set(c["securityContext"], "runAsUser")) any_user = true;
    });
    if (!any_user) {
      psc["runAsUser"] = config.mutation.run_as_user;
      note(r.changes, "runAsUser");
      if (!is_set(psc, "runAsGroup")) {
        psc["runAsGroup"] = config.mutation.run_as_group;
        note(r.changes, "runAsGroup");
      }
    }
  }

  if (patches("service-account-token") && !is_set(spec, "automountServiceAccountToken")) {
    spec["automountServiceAccountToken"] = false;
    note(r.changes, "automountServiceAccountToken");
  }

  bool need_tmp_volume = false;
  const std::string tmp_volume = "loki-tmp";
  for_each_container([&](json& c) {
    json& sc = object_field(c, "securityContext");
    bool privileged = flag(sc, "privileged");
    if (patches("writable-root-fs") && !is_set(sc, "readOnlyRootFilesystem")) {
      sc["readOnlyRootFilesystem"] = true;
      note(r.changes, "readOnlyRootFilesystem");
      // The agent still needs somewhere to write: a memory-backed /tmp,
      // unless something is already mounted there.
      bool has_tmp = false;
      if (auto vm = c.find("volumeMounts"); vm != c.end() && vm->is_array())
        for (const auto& m : *vm)
          if (m.is_object() && m.value("mountPath", "") == "/tmp") has_tmp = true;
      if (!has_tmp) {
        json& mounts = c["volumeMounts"];
        if (!mounts.is_array()) mounts = json::array();
        mounts.push_back({{"name", tmp_volume}, {"mountPath", "/tmp"}});
        need_tmp_volume = true;
        note(r.changes, "tmp emptyDir");
      }
    }
    if (patches("privilege-escalation") && !is_set(sc, "allowPrivilegeEscalation") && !privileged) {
      sc["allowPrivilegeEscalation"] = false;
      note(r.changes, "allowPrivilegeEscalation");
    }
    if (patches("capabilities-not-dropped")) {
      json& caps = object_field(sc, "capabilities");
      json& drop = caps["drop"];
      if (!drop.is_array()) drop = json::array();
      if (std::find(drop.begin(), drop.end(), json("ALL")) == drop.end()) {
        drop.push_back("ALL");
        note(r.changes, "capabilities.drop ALL");
      }
    }
    if (sc.empty()) c.erase("securityContext");
  });
  if (need_tmp_volume) {
    json& vols = spec["volumes"];
    if (!vols.is_array()) vols = json::array();
    bool exists = std::any_of(vols.begin(), vols.end(),
                              [&](const json& v) { return v.is_object() && v.value("name", "") == tmp_volume; });
    if (!exists)
      vols.push_back(
          {{"name", tmp_volume}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", config.mutation.tmp_size_limit}}}});
  }

  json& meta = at_path(r.patched, meta_path);
  if (!meta.is_object()) meta = json::object();
  if (!config.repair_labels.empty()) {
    json& labels = object_field(meta, "labels");
    for (const auto& [k, v] : config.repair_labels) {
      if (labels.value(k, json()) != json(v)) {
        labels[k] = v;
        note(r.changes, std::string("label ").append(k).append("=").append(v));
      }
    }
  }
  // Empty objects we created but did not fill are not changes.
  if (psc.empty()) spec.erase("securityContext");

  if (!r.changes.empty()) {
    // Record what was patched, merged with what an earlier pass recorded, so
    // reinvocation converges on the same annotation.
    json& ann = object_field(meta, "annotations");
    std::set<std::string> all;
    if (auto prev = ann.find(std::string(patched_annotation)); prev != ann.end() && prev->is_string()) {
      std::string s = prev->get<std::string>();
      std::size_t pos = 0;
      while (pos <= s.size()) {
        auto comma = s.find(',', pos);
        std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (!item.empty()) all.insert(item);
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
    }
    for (const auto& c : r.changes) all.insert(c);
    std::string joined;
    for (const auto& c : all) joined += (joined.empty() ? "" : ",") + c;
    ann[std::string(patched_annotation)] = joined;
  }
  r.patch = json::diff(object, r.patched);
  return r;
}

}  // namespace loki::webhook
