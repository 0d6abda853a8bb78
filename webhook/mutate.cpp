#include "mutate.hpp"

#include <loki/json_access.hpp>
#include <loki/rule.hpp>

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

void note(std::vector<std::string>& changes, const std::string& what) {
  if (std::find(changes.begin(), changes.end(), what) == changes.end()) changes.push_back(what);
}

// The fixes of the rules the config patches (rules.<id>.action: patch), in fix order.
std::vector<const Fix*> fixes_to_apply(const Config& config, const std::vector<std::string_view>& settled) {
  std::vector<const Fix*> fixes;
  for (const Rule& r : all_rules())
    if (r.fix && config.action_of(r.id) == Action::patch &&
        std::find(settled.begin(), settled.end(), r.id) == settled.end())
      fixes.push_back(r.fix);
  std::stable_sort(fixes.begin(), fixes.end(), [](const Fix* a, const Fix* b) { return a->order < b->order; });
  return fixes;
}

void apply_fixes(FixContext& ctx, const std::vector<const Fix*>& fixes) {
  for (const Fix* f : fixes)
    if (f->pod) f->pod(ctx);
  fix::for_each_container(ctx.spec, [&](json& c) {
    json& sc = fix::object_field(c, "securityContext");
    for (const Fix* f : fixes)
      if (f->container) f->container(ctx, c, sc);
    if (sc.empty()) c.erase("securityContext");  // created above, left empty: not a change
  });
  for (const Fix* f : fixes)
    if (f->after) f->after(ctx);
}

void repair_labels(json& meta, const Config& config, std::vector<std::string>& changes) {
  if (config.repair_labels.empty()) return;
  json& labels = fix::object_field(meta, "labels");
  for (const auto& [k, v] : config.repair_labels) {
    if (labels.value(k, json()) != json(v)) {
      labels[k] = v;
      note(changes, std::string("label ").append(k).append("=").append(v));
    }
  }
}

// Records what was patched, merged with what an earlier pass recorded, so
// reinvocation converges on the same annotation.
void record_changes(json& meta, const std::vector<std::string>& changes) {
  json& ann = fix::object_field(meta, "annotations");
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
  for (const auto& c : changes) all.insert(c);
  std::string joined;
  for (const auto& c : all) joined += (joined.empty() ? "" : ",") + c;
  ann[std::string(patched_annotation)] = joined;
}

json op(const char* name, const std::string& path) {
  json o = json::object();
  o["op"] = name;
  o["path"] = path;
  return o;
}

// json::diff's walk. Where it first asks `source == target` (a deep
// comparison, repeated at every level below), this recurses into containers
// of one type and lets equal subtrees produce no operations, which is what
// the comparison decided; scalars and mixed types compare with the same ==.
void diff_into(const json& source, const json& target, std::string& path, json& result) {
  const std::size_t mark = path.size();
  if (source.type() == target.type() && source.is_array()) {
    std::size_t i = 0;
    for (; i < source.size() && i < target.size(); ++i) {
      path += '/';
      path += std::to_string(i);
      diff_into(source[i], target[i], path, result);
      path.resize(mark);
    }
    // Removals at the end, last index first, so that each index stays valid.
    const auto end_index = static_cast<std::ptrdiff_t>(result.size());
    for (; i < source.size(); ++i)
      result.insert(result.begin() + end_index, op("remove", path + '/' + std::to_string(i)));
    for (; i < target.size(); ++i) {
      json o = op("add", path + "/-");
      o["value"] = target[i];
      result.push_back(std::move(o));
    }
    return;
  }
  if (source.type() == target.type() && source.is_object()) {
    for (auto it = source.cbegin(); it != source.cend(); ++it) {
      loki::detail::append_pointer_token(path, it.key());
      if (auto t = target.find(it.key()); t != target.end())
        diff_into(it.value(), *t, path, result);
      else
        result.push_back(op("remove", path));
      path.resize(mark);
    }
    for (auto it = target.cbegin(); it != target.cend(); ++it) {
      if (source.find(it.key()) != source.end()) continue;
      loki::detail::append_pointer_token(path, it.key());
      json o = op("add", path);
      o["value"] = it.value();
      result.push_back(std::move(o));
      path.resize(mark);
    }
    return;
  }
  if (source == target) return;
  json o = op("replace", path);
  o["value"] = target;
  result.push_back(std::move(o));
}

}  // namespace

json json_patch_diff(const json& source, const json& target) {
  json result = json::array();
  std::string path;
  diff_into(source, target, path, result);
  return result;
}

MutationResult mutate_pod(const json& object, const std::string& spec_path, const std::string& meta_path,
                          const Config& config, const std::vector<std::string_view>& settled) {
  MutationResult r;
  r.patched = object;
  json& spec = at_path(r.patched, spec_path);
  if (!spec.is_object()) {
    r.patch = json::array();
    return r;
  }
  json& psc = fix::object_field(spec, "securityContext");
  FixContext ctx{spec, psc, config, r.changes};
  apply_fixes(ctx, fixes_to_apply(config, settled));

  json& meta = at_path(r.patched, meta_path);
  if (!meta.is_object()) meta = json::object();
  repair_labels(meta, config, r.changes);
  // Empty objects we created but did not fill are not changes.
  if (psc.empty()) spec.erase("securityContext");
  if (!r.changes.empty()) record_changes(meta, r.changes);
  r.patch = json_patch_diff(object, r.patched);
  return r;
}

}  // namespace loki::webhook
