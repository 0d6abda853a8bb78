// Ignore annotations, ignore.loki-guard.io/<rule>: "<reason>", shared by the
// per-object checks and the cross-object (network) pass.
#pragma once

#include <loki/finding.hpp>
#include <loki/manifest.hpp>
#include <loki/podspec.hpp>

#include <optional>
#include <string>
#include <vector>

namespace loki {

struct IgnoreAnnotation {
  std::string rule;
  std::string reason;
  std::string field;  // JSON pointer of the annotation

  // Honoured only with a reason, and only for rules that exist, so a typo or
  // a bare opt-out does not silently switch a check off.
  bool honoured() const;
};

// The ignore annotations on the object's metadata and on its pod template's.
std::vector<IgnoreAnnotation> ignore_annotations(const Object& object, const std::optional<PodTemplate>& pod);

// Marks the finding suppressed when an honoured ignore names its rule
// (never for invalid-ignore itself).
void apply_ignores(Finding& finding, const std::vector<IgnoreAnnotation>& ignores);

}  // namespace loki
