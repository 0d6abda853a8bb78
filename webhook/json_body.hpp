// The review body into nlohmann::json (what the rules read), with Boost.JSON's
// parser doing the reading: it scans a typical 1-3 KB review several times
// faster than nlohmann's own lexer (docs/benchmarks.md, "Admission
// handler"). The result is the value json::parse gives, to the number type;
// whatever Boost.JSON refuses is handed to json::parse, so invalid bodies get
// nlohmann's verdict as before. Header-only Boost.JSON: no new library in the
// image.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace loki::webhook {

// As nlohmann::json::parse(text, nullptr, false): a discarded value when the
// text is not one valid JSON document. Callers bound the depth first (too_deep).
nlohmann::json parse_body(std::string_view text);

// The fast path alone: false (and `out` unspecified) when Boost.JSON refuses
// the text or holds a number whose reading could differ from nlohmann's.
bool parse_body_fast(std::string_view text, nlohmann::json& out);

}  // namespace loki::webhook
