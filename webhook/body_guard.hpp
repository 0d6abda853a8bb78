// Checks on a request body before the JSON parser sees it (shared by
// loki-webhook's main and the admission fuzz targets, so both parse alike).
#pragma once

#include <string_view>

namespace loki::webhook {

// Rejects JSON nested deeper than any AdmissionReview before the (recursive)
// parser sees it: a 100k-level body must be a 400, not a stack overflow.
inline bool too_deep(std::string_view body, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > limit) return true;
    } else if (c == '}' || c == ']')
      --depth;
  }
  return false;
}

}  // namespace loki::webhook
