#include <loki/base64.hpp>

#include <cctype>

namespace loki {

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(std::string_view in) {
  // Written through a pointer into a buffer of the final size: appending char
  // by char cost more than the encoding (a mutating review's patch).
  std::string out((in.size() + 2) / 3 * 4, '=');
  char* o = out.data();
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (unsigned{p[i]} << 16) | (unsigned{p[i + 1]} << 8) | unsigned{p[i + 2]};
    *o++ = kAlphabet[(v >> 18) & 63];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = kAlphabet[(v >> 6) & 63];
    *o++ = kAlphabet[v & 63];
  }
  if (i < in.size()) {
    unsigned v = unsigned{p[i]} << 16;
    if (i + 1 < in.size()) v |= unsigned{p[i + 1]} << 8;
    *o++ = kAlphabet[(v >> 18) & 63];
    *o++ = kAlphabet[(v >> 12) & 63];
    if (i + 1 < in.size()) *o = kAlphabet[(v >> 6) & 63];  // else stays '='; the last is '='
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  std::string out;
  int val = 0, bits = -8;
  for (unsigned char c : in) {
    if (std::isspace(c) || c == '=') continue;
    const char* pos = nullptr;
    for (const char* a = kAlphabet; *a; ++a)
      if (*a == static_cast<char>(c)) pos = a;
    if (!pos) return std::nullopt;
    val = (val << 6) + static_cast<int>(pos - kAlphabet);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

}  // namespace loki
