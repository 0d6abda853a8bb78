#include "json_body.hpp"

// Boost.JSON compiled here (header-only use; no other translation unit includes src.hpp).
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/src.hpp>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

namespace loki::webhook {

namespace {

using nlohmann::json;
namespace bj = boost::json;

// Builds nlohmann values from Boost.JSON's events, as nlohmann's own
// json_sax_dom_parser does (later duplicate keys win). Numbers are read from
// their text as nlohmann reads them: an integer without '-' is unsigned, with
// '-' signed, one that fits neither a double (strtod, correctly rounded).
struct Builder {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  json* root = nullptr;
  std::vector<json*> stack;  // open containers
  json* slot = nullptr;      // where the next value goes (a key's value)
  std::string key, str, num;

  json& place(json&& v) {
    if (stack.empty()) {
      *root = std::move(v);
      return *root;
    }
    json& top = *stack.back();
    if (top.is_array()) {
      top.get_ref<json::array_t&>().push_back(std::move(v));
      return top.get_ref<json::array_t&>().back();
    }
    *slot = std::move(v);
    return *slot;
  }
  bool number(json&& v) {
    place(std::move(v));
    num.clear();
    return true;
  }

  bool on_document_begin(bj::error_code&) { return true; }
  bool on_document_end(bj::error_code&) { return true; }
  bool on_object_begin(bj::error_code&) {
    stack.push_back(&place(json::object()));
    return true;
  }
  bool on_object_end(std::size_t, bj::error_code&) {
    stack.pop_back();
    return true;
  }
  bool on_array_begin(bj::error_code&) {
    stack.push_back(&place(json::array()));
    return true;
  }
  bool on_array_end(std::size_t, bj::error_code&) {
    stack.pop_back();
    return true;
  }
  bool on_key_part(bj::string_view s, std::size_t, bj::error_code&) {
    key.append(s.data(), s.size());
    return true;
  }
  bool on_key(bj::string_view s, std::size_t, bj::error_code&) {
    auto& obj = stack.back()->get_ref<json::object_t&>();
    if (key.empty()) {
      slot = &obj[std::string(s.data(), s.size())];
    } else {
      key.append(s.data(), s.size());
      slot = &obj[key];
      key.clear();
    }
    return true;
  }
  bool on_string_part(bj::string_view s, std::size_t, bj::error_code&) {
    str.append(s.data(), s.size());
    return true;
  }
  bool on_string(bj::string_view s, std::size_t, bj::error_code&) {
    if (str.empty()) {
      place(json(std::string(s.data(), s.size())));
    } else {
      str.append(s.data(), s.size());
      place(json(std::move(str)));
      str.clear();
    }
    return true;
  }
  bool on_number_part(bj::string_view s, bj::error_code&) {
    num.append(s.data(), s.size());
    return true;
  }
  // The whole number's text: the parts so far and the last one.
  std::string_view text(bj::string_view last) {
    if (num.empty()) return {last.data(), last.size()};
    num.append(last.data(), last.size());
    return num;
  }
  bool on_int64(std::int64_t v, bj::string_view s, bj::error_code&) {
    std::string_view t = text(s);
    if (!t.empty() && t[0] == '-') return number(json(static_cast<json::number_integer_t>(v)));
    return number(json(static_cast<json::number_unsigned_t>(v)));
  }
  bool on_uint64(std::uint64_t v, bj::string_view, bj::error_code&) {
    return number(json(static_cast<json::number_unsigned_t>(v)));
  }
  bool on_double(double, bj::string_view s, bj::error_code& ec) {
    std::string_view t = text(s);
    // Read as nlohmann reads it (strtod); Boost.JSON 1.81's own reading may differ in the last bit.
    const std::string copy(t);
    char* end = nullptr;
    const double d = std::strtod(copy.c_str(), &end);
    if (end != copy.c_str() + copy.size() || !std::isfinite(d)) {
      ec = bj::error::exponent_overflow;  // nlohmann decides (it refuses an overflow)
      return false;
    }
    if (t.find_first_of(".eE") == std::string_view::npos && d == 0) {
      // "-0": an integer to nlohmann.
      return number(json(static_cast<json::number_integer_t>(0)));
    }
    return number(json(d));
  }
  bool on_bool(bool b, bj::error_code&) {
    place(json(b));
    return true;
  }
  bool on_null(bj::error_code&) {
    place(json(nullptr));
    return true;
  }
  bool on_comment_part(bj::string_view, bj::error_code&) { return true; }
  bool on_comment(bj::string_view, bj::error_code&) { return true; }
};

}  // namespace

bool parse_body_fast(std::string_view text, nlohmann::json& out) {
  bj::parse_options opt;
  opt.max_depth = std::size_t(-1);  // callers bound the depth (nlohmann's limit is the stack)
  bj::basic_parser<Builder> p(opt);
  p.handler().root = &out;
  bj::error_code ec;
  std::size_t n = p.write_some(false, text.data(), text.size(), ec);
  return !ec && n == text.size() && p.done();
}

nlohmann::json parse_body(std::string_view text) {
  json out;
  if (parse_body_fast(text, out)) return out;
  return json::parse(text, nullptr, false);
}

}  // namespace loki::webhook
