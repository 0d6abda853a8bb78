// writable-root-fs: readOnlyRootFilesystem is container-only (not inherited
// from the pod), so each container must set it.
#include "check_util.hpp"

namespace loki::checks {
namespace {

void writable_root_fs(const PodContext& ctx, std::vector<RawFinding>& out) {
  for (const auto& c : ctx.containers) {
    const auto& sc = ctx.security_context(c);
    if (sc.readOnlyRootFilesystem.value_or(false)) continue;
    std::string field = sc.readOnlyRootFilesystem ? c.path + "/securityContext/readOnlyRootFilesystem" : c.path;
    emit(out, field, c.name,
         describe(c) +
             " has a writable root filesystem (readOnlyRootFilesystem is not true): the agent can "
             "modify its own image and drop tools into it",
         "set `readOnlyRootFilesystem: true` in " + where(c) +
             " and mount an emptyDir where it must write:\n  volumeMounts:\n  - name: tmp\n    mountPath: /tmp\n"
             "volumes:\n- name: tmp\n  emptyDir:\n    medium: Memory\n    sizeLimit: 256Mi");
  }
}

constexpr const char* kTmpVolume = "loki-tmp";

// The agent still needs somewhere to write: a memory-backed /tmp, unless
// something is already mounted there.
void fix_container(FixContext& f, nlohmann::json& c, nlohmann::json& sc) {
  if (fix::is_set(sc, "readOnlyRootFilesystem")) return;
  sc["readOnlyRootFilesystem"] = true;
  f.note("readOnlyRootFilesystem");
  if (auto vm = c.find("volumeMounts"); vm != c.end() && vm->is_array())
    for (const auto& m : *vm)
      if (m.is_object() && m.value("mountPath", "") == "/tmp") return;
  nlohmann::json& mounts = c["volumeMounts"];
  if (!mounts.is_array()) mounts = nlohmann::json::array();
  mounts.push_back({{"name", kTmpVolume}, {"mountPath", "/tmp"}});
  f.tmp_volume_needed = true;
  f.note("tmp emptyDir");
}

void fix_after(FixContext& f) {
  if (!f.tmp_volume_needed) return;
  nlohmann::json& vols = f.spec["volumes"];
  if (!vols.is_array()) vols = nlohmann::json::array();
  bool exists = std::any_of(vols.begin(), vols.end(),
                            [](const nlohmann::json& v) { return v.is_object() && v.value("name", "") == kTmpVolume; });
  if (!exists)
    vols.push_back(
        {{"name", kTmpVolume}, {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", f.config.mutation.tmp_size_limit}}}});
}
const Fix kFix{.order = 4, .container = fix_container, .after = fix_after};

}  // namespace

extern const Rule rule_writable_root_fs{"writable-root-fs",
                                        Severity::error,
                                        RuleScope::pod,
                                        "A container's root filesystem is writable.",
                                        "Set `readOnlyRootFilesystem: true` and mount an emptyDir at /tmp.",
                                        writable_root_fs,
                                        "`readOnlyRootFilesystem` not true (container-only field)",
                                        RuleSubject::pod_template,
                                        Action::patch,
                                        &kFix};

}  // namespace loki::checks
