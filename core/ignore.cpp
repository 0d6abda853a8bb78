#include <loki/ignore.hpp>
#include <loki/json_access.hpp>
#include <loki/rules.hpp>
#include <nlohmann/json.hpp>

namespace loki {

using nlohmann::json;

bool IgnoreAnnotation::honoured() const {
  return find_rule(rule) != nullptr && !blank(reason) && rule != rule_id::invalid_ignore;
}

std::vector<IgnoreAnnotation> ignore_annotations(const Object& o, const std::optional<PodTemplate>& pod) {
  std::vector<IgnoreAnnotation> out;
  auto collect = [&](const json* md, const std::string& md_path) {
    if (!md || !md->is_object()) return;
    auto ann = md->find("annotations");
    if (ann == md->end() || !ann->is_object()) return;
    for (auto it = ann->begin(); it != ann->end(); ++it) {
      const std::string& k = it.key();
      if (k.rfind(ignore_annotation_prefix, 0) != 0) continue;
      std::string rule = k.substr(ignore_annotation_prefix.size());
      std::string reason = it->is_string() ? it->get<std::string>() : std::string();
      std::string field = md_path + "/annotations";
      detail::append_pointer_token(field, k);
      out.push_back({rule, reason, field});
    }
  };
  if (!o.json.is_object()) return out;
  auto md = o.json.find("metadata");
  collect(md == o.json.end() ? nullptr : &*md, "/metadata");
  if (pod && pod->metadata && pod->metadata_path != "/metadata") collect(pod->metadata, pod->metadata_path);
  return out;
}

void apply_ignores(Finding& f, const std::vector<IgnoreAnnotation>& ignores) {
  for (const auto& ig : ignores) {
    if (ig.rule == f.rule && ig.honoured()) {
      f.suppressed = true;
      f.suppression_reason = ig.reason;
    }
  }
}

}  // namespace loki
