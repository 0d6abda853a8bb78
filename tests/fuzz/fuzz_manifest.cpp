// The manifest loader on arbitrary text: parse_manifest_text, then a whole
// LintSession (checks, network pass, summary) over the same text. Also an
// oracle for LoadOptions::skip_unread: the lean parse must report the same
// errors and skipped documents, and build the same fields checks read.
#include <loki/lint.hpp>
#include <loki/manifest.hpp>

#include "fuzz_target.hpp"

#include <string>

LOKI_FUZZ_TARGET(manifest) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  loki::LoadOptions load;
  load.threads = 1;  // deterministic, and what libFuzzer measures
  for (const auto& doc : loki::parse_manifest_text(text, "fuzz.yaml", load)) {
    for (const auto& o : doc.objects) {
      (void)o.line_of("/spec/template/spec/containers/0");
      (void)o.ref();
    }
  }
  loki::LoadOptions lean = load;
  lean.skip_unread = true;
  auto full_docs = loki::parse_manifest_text(text, "fuzz.yaml", load);
  auto lean_docs = loki::parse_manifest_text(text, "fuzz.yaml", lean);
  auto same_ref = [](const loki::ObjectRef& a, const loki::ObjectRef& b) {
    return a.apiVersion == b.apiVersion && a.kind == b.kind && a.name == b.name && a.ns == b.ns;
  };
  auto read_fields = [](const nlohmann::json& j) {
    nlohmann::json r = nlohmann::json::object();
    if (!j.is_object()) return j;
    for (const char* k : {"apiVersion", "kind", "metadata"})
      if (j.contains(k)) r[k] = j[k];
    if (j.contains("spec") && j["spec"].is_object() && j["spec"].contains("template"))
      r["template"] = j["spec"]["template"];
    return r;
  };
  if (full_docs.size() != lean_docs.size()) loki::fuzz::fail("skip_unread: document count");
  for (std::size_t i = 0; i < full_docs.size(); ++i) {
    const auto& f = full_docs[i];
    const auto& l = lean_docs[i];
    if (f.objects.size() != l.objects.size() || f.errors.size() != l.errors.size() ||
        f.skipped.size() != l.skipped.size())
      loki::fuzz::fail("skip_unread: objects, errors or skipped documents differ in number");
    for (std::size_t k = 0; k < f.objects.size(); ++k) {
      const auto& a = f.objects[k];
      const auto& b = l.objects[k];
      if (a.line != b.line || a.file != b.file || a.pointer_prefix != b.pointer_prefix || !same_ref(a.ref(), b.ref()) ||
          read_fields(a.json) != read_fields(b.json) || a.line_of("/metadata/name") != b.line_of("/metadata/name"))
        loki::fuzz::fail("skip_unread: an object differs in what checks read");
    }
    for (std::size_t k = 0; k < f.errors.size(); ++k) {
      const auto& a = f.errors[k];
      const auto& b = l.errors[k];
      if (a.line != b.line || a.file != b.file || a.field != b.field || a.message != b.message ||
          !same_ref(a.object, b.object))
        loki::fuzz::fail("skip_unread: a load error differs");
    }
    for (std::size_t k = 0; k < f.skipped.size(); ++k)
      if (f.skipped[k].line != l.skipped[k].line || f.skipped[k].reason != l.skipped[k].reason)
        loki::fuzz::fail("skip_unread: a skipped document differs");
  }
  loki::LintSession session(loki::EngineOptions{}, load);
  session.add_text(text, "fuzz.yaml");
  (void)session.inventory();
  loki::LintResult r = session.finish();
  for (const auto& f : r.findings) (void)f.message.size();
  return 0;
}
