// LabelSelector::parse on arbitrary text: a SelectorError or a selector whose
// kubectl form parses back to the same selector.
#include <loki/selector.hpp>

#include "fuzz_target.hpp"

#include <string>

LOKI_FUZZ_TARGET(selector) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  loki::LabelSelector sel;
  try {
    sel = loki::LabelSelector::parse(text);
  } catch (const loki::SelectorError&) {
    return 0;
  }
  loki::Labels labels = {{"app", "loki-mode"}, {"tier", "web"}, {"env", "a"}};
  (void)sel.matches(labels);
  (void)sel.matches({});
  for (const auto& r : sel.requirements()) (void)r.to_string();
  std::string again = sel.to_string();
  if (sel.empty()) return 0;  // "<all>" is not selector syntax
  loki::LabelSelector round;
  try {
    round = loki::LabelSelector::parse(again);
  } catch (const loki::SelectorError& e) {
    loki::fuzz::fail("to_string() of a parsed selector does not parse: " + again + ": " + e.what());
  }
  if (round.to_string() != again) loki::fuzz::fail("selector round trip: " + again + " -> " + round.to_string());
  return 0;
}
