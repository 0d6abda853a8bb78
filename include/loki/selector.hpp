// Label selectors with the API's semantics (k8s.io/apimachinery/pkg/labels):
// requirements are ANDed; an empty selector selects everything.
// https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace loki {

using Labels = std::map<std::string, std::string, std::less<>>;

// Labels of a metadata object ({"labels": {...}}); non-string values skipped.
Labels labels_of(const nlohmann::json& metadata);

struct SelectorError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Requirement {
  enum class Op { Equals, NotEquals, In, NotIn, Exists, DoesNotExist };
  std::string key;
  Op op = Op::Exists;
  std::vector<std::string> values;  // sorted, for In/NotIn/Equals/NotEquals

  bool matches(const Labels& labels) const;
  std::string to_string() const;  // kubectl syntax
};

class LabelSelector {
 public:
  LabelSelector() = default;  // empty: selects everything

  // kubectl syntax: "app=loki-mode,tier!=web,env in (a,b),x notin (c),k,!k".
  static LabelSelector parse(std::string_view text);
  // A metav1.LabelSelector ({matchLabels, matchExpressions}); `where` names the
  // field in errors. Throws SelectorError.
  static LabelSelector from_json(const nlohmann::json& selector, std::string_view where = "selector");
  // A selector that selects nothing (a null metav1.LabelSelector).
  static LabelSelector nothing();

  bool matches(const Labels& labels) const;
  bool empty() const { return requirements_.empty() && !nothing_; }
  bool selects_nothing() const { return nothing_; }
  const std::vector<Requirement>& requirements() const { return requirements_; }
  std::string to_string() const;  // kubectl syntax; "<all>" / "<none>"

 private:
  std::vector<Requirement> requirements_;
  bool nothing_ = false;
};

// Validates a label key/value as the API server does (qualified name; value
// of at most 63 characters). Returns an error text or empty.
std::string validate_label_key(std::string_view key);
std::string validate_label_value(std::string_view value);

}  // namespace loki
