// The manifest loader on arbitrary text: parse_manifest_text, then a whole
// LintSession (checks, network pass, summary) over the same text.
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
  loki::LintSession session(loki::EngineOptions{}, load);
  session.add_text(text, "fuzz.yaml");
  (void)session.inventory();
  loki::LintResult r = session.finish();
  for (const auto& f : r.findings) (void)f.message.size();
  return 0;
}
