// YAML events (libyaml) straight to nlohmann::json, recording the line of
// every mapping key and sequence item. Avoids a DOM (YAML::Node is 3x slower and 30x the memory).
#pragma once

#include <loki/json_access.hpp>
#include <loki/manifest.hpp>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace loki::detail {

struct ParsedDocument {
  nlohmann::json value;
  std::shared_ptr<LineIndex> lines;
  int first_line = 0;  // 1-based line of the document's first node
};

struct YamlError {
  int line = 0;  // 1-based
  int column = 0;
  std::string message;
  std::string field;  // pointer, for duplicate keys
};

// Whether no check reads more of an object of this kind than its apiVersion,
// kind, metadata and spec.template (see LoadOptions::skip_unread).
using UnreadKind = bool (*)(std::string_view kind);

// Parses the documents in `text` (normally one). `line_offset` is added to
// every line (the chunk's position in its file). Never throws: syntax errors
// come back in `errors`. With `unread`, a document whose kind it accepts is
// still parsed whole (syntax and duplicate keys checked) but only
// apiVersion, kind, metadata and spec.template are built; every other
// top-level and spec field is a null placeholder.
void parse_yaml(std::string_view text, int line_offset, std::vector<ParsedDocument>& docs,
                std::vector<YamlError>& errors, UnreadKind unread = nullptr);

// Resolves a plain (unquoted) YAML scalar as Kubernetes' YAML decoder
// (sigs.k8s.io/yaml, go-yaml v2, YAML 1.1 booleans) does.
nlohmann::json resolve_plain_scalar(std::string value);

// The share of a document's nodes that may come from alias expansion, as
// go-yaml's decoder allows it, for a document of `decoded` nodes.
double allowed_alias_ratio(std::uint64_t decoded);

// The 1-based line of the first NUL byte or invalid UTF-8 sequence, or 0
// (core/manifest.cpp: such text is reported as binary, not parsed).
int first_binary_line(std::string_view text);  // moved into the result when it stays a string

}  // namespace loki::detail
