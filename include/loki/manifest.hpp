// Manifest loading: files, directories and stdin to Kubernetes objects that
// remember where they came from (file and line of every field).
#pragma once

#include <loki/finding.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace loki {

// Line of every mapping key and sequence item of one YAML document, found by
// JSON pointer ("/spec/template/spec/hostNetwork" -> 14). Built for every
// document and read only for the few fields a finding names, so an entry is
// its parent's entry and its own token (no copy of the parent's pointer per
// key); a big index is turned into sorted pointers once by seal().
class LineIndex {
 public:
  using Node = std::uint32_t;
  static constexpr Node kRoot = 0;  // the document itself (no line)

  LineIndex();

  // The entry of a mapping key under `parent` (its token in a pointer is the
  // escaped key, RFC 6901), or of a sequence item; returns it, the parent of
  // what is inside.
  Node add(Node parent, std::string_view key, int line);
  Node add(Node parent, std::size_t index, int line);
  // An entry with no line of its own (a merge key "<<": the keys it brings
  // have theirs); find() goes through it to what is inside.
  Node add_unlined(Node parent, std::string_view key);
  // Done adding: sorts a big index for find(). A later entry for the same
  // pointer wins (a duplicate key).
  void seal();
  // Line of the pointer, or of its closest ancestor that has one; 0 if none.
  int find(std::string_view pointer) const;
  // Distinct pointers that have a line.
  std::size_t size() const;

 private:
  struct Entry {
    Node parent;
    std::uint32_t offset;  // of the token in tokens_
    std::uint32_t length;
    std::uint32_t total;  // of the whole pointer, unescaped: most entries are told apart by it alone
    int line;             // -1: none (the root, a merge key)
  };
  struct Sorted {  // a big index after seal(): whole pointers in text_
    std::uint32_t offset;
    std::uint32_t length;
    int line;
  };
  std::string_view token(const Entry& e) const { return std::string_view(tokens_).substr(e.offset, e.length); }
  std::string_view pointer(const Sorted& e) const { return std::string_view(text_).substr(e.offset, e.length); }
  Node push(Node parent, std::size_t start, int line);
  // Every entry with a line as a whole pointer (into `text`), in order.
  std::vector<Sorted> pointers(std::string& text) const;

  std::string tokens_;
  std::vector<Entry> entries_;  // [0]: the root
  std::string text_;            // seal() of a big index
  std::vector<Sorted> sorted_;
};

// One Kubernetes object read from a manifest.
struct Object {
  nlohmann::json json;
  std::string file;            // what findings name: the Helm template from "# Source:" if present
  std::string origin;          // the real input ("-" for stdin) when file is a Helm template
  int line = 0;                // first line of the object (relative to line_base)
  int line_base = 0;           // lines of a Helm template count from its "# Source:" line
  std::string pointer_prefix;  // "/items/3" for members of a kind: List
  std::shared_ptr<const LineIndex> lines;
  // Line of the first `{{ ... }}` of an unrendered Helm template that still
  // parsed as YAML (0: none): its validation errors say so.
  int template_line = 0;

  // Line of a field given as a JSON pointer relative to the object.
  int line_of(std::string_view pointer) const;
  ObjectRef ref(const std::string& default_namespace = "") const;
};

// For an unrendered Helm template: what invalid-manifest findings say and advise.
std::string helm_template_note(int line);
extern const std::string_view helm_template_remediation;

// A problem with the input itself; becomes an `invalid-manifest` finding.
struct LoadError {
  std::string file;
  int line = 0;
  ObjectRef object;   // as much as is known
  std::string field;  // JSON pointer of the offending field, when known
  std::string message;
  std::string remediation;  // when the rule's generic one would mislead (an unrendered Helm template)
};

struct LoadOptions {
  unsigned threads = 0;  // 0: hardware concurrency
  // Build only what the checks read of a kind no check looks into
  // (ConfigMap, Secret, CustomResourceDefinition, ...): apiVersion, kind,
  // metadata and spec.template; the rest is parsed for syntax and duplicate
  // keys but left null. For callers that only check (LintSession), never for
  // ones that use the objects.
  bool skip_unread = false;
  // Called with text that need not stay resident (see InputText::release):
  // the text scanned so far while splitting, the whole text once split, then,
  // in order and in whole pages, the text before the first document not yet
  // parsed and visited (a document is usually smaller than a page).
  std::function<void(std::string_view)> done;
};

// A document that is not a Kubernetes API object and was left alone: a YAML
// file of another tool (a CI workflow, a Helm values.yaml, .pre-commit-config.yaml),
// or a tool's own config in the object style (kubeconfig, Kustomization).
struct SkippedDocument {
  std::string file;
  int line = 0;
  std::string reason;  // "not a Kubernetes object (no apiVersion or kind)"
};

// One document of a file, after parsing: objects or errors (or both, for a
// kind: List with a broken item), or a note that it is not a Kubernetes object.
//
// What counts as a Kubernetes document (as kube-linter and kubectl see it): a
// mapping with an apiVersion or a kind key. A document with neither (a mapping
// of something else, a list of such mappings, a scalar or a YAML syntax error
// whose text names neither) is skipped, not reported; one with either key that
// is broken stays an invalid-manifest error, and so does a list of objects.
struct DocumentResult {
  std::vector<Object> objects;
  std::vector<LoadError> errors;
  std::vector<SkippedDocument> skipped;
};

// Parses a YAML or JSON text (one or many documents). `name` is used in
// errors. Documents are split textually at "---" so one broken document does
// not hide the others.
std::vector<DocumentResult> parse_manifest_text(std::string_view text, const std::string& name,
                                                const LoadOptions& opts = {});

// Visits every document of `text` in order, calling `fn` from worker threads
// (documents in parallel); `fn(index, result)` must be thread-safe. Lets the
// caller check and drop each object without holding the whole set in memory.
void for_each_document(std::string_view text, const std::string& name,
                       const std::function<void(std::size_t, DocumentResult&&)>& fn, const LoadOptions& opts = {});

// Expands files and directories (recursively: .yaml .yml .json, hidden
// directories skipped, Helm chart directories reported in `skipped`). A file
// named explicitly is read whatever its extension, unless it belongs to a Helm
// chart (a directory above it holds Chart.yaml): templates are not manifests,
// so it is skipped with a note, as the chart's directory would be.
// Throws std::runtime_error for a path that does not exist.
struct InputFiles {
  std::vector<std::string> files;
  std::vector<std::string> skipped;  // human-readable notes
};
InputFiles expand_inputs(const std::vector<std::string>& paths);

// Reads a whole file ("-" = stdin). Throws std::runtime_error on I/O errors.
std::string read_input(const std::string& path);

// An input's text: a regular file is mapped read-only instead of copied, and
// release() hands the pages of text that has been processed back to the
// kernel, so linting a 100 MB file does not hold 100 MB (the pages are read
// again from the file if touched). Other inputs (stdin, pipes) are read.
class InputText {
 public:
  static InputText open(const std::string& path);  // throws std::runtime_error, like read_input
  InputText(InputText&&) noexcept;
  InputText& operator=(InputText&&) noexcept;
  InputText(const InputText&) = delete;
  InputText& operator=(const InputText&) = delete;
  ~InputText();
  std::string_view text() const { return view_; }
  void release(std::string_view part) const;  // whole pages inside `part` only

 private:
  InputText() = default;
  std::string owned_;
  void* map_ = nullptr;
  std::size_t map_size_ = 0;
  std::string_view view_;
};

}  // namespace loki
