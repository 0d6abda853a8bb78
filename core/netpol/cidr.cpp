// IPv4/IPv6 addresses and CIDR blocks for ipBlock, without the OS resolver.
#include <loki/netpol.hpp>

#include <charconv>
#include <cstdio>

namespace loki::netpol {

namespace {

std::optional<int> parse_uint(std::string_view s, int max, int base = 10) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0 || v > max) return std::nullopt;
  return v;
}

bool parse_v4(std::string_view s, std::uint8_t* out) {
  for (int i = 0; i < 4; ++i) {
    auto dot = s.find('.');
    if ((i < 3) == (dot == std::string_view::npos)) return false;
    std::string_view part = s.substr(0, dot);
    if (part.size() > 1 && part[0] == '0') return false;  // no octal-looking octets, as Go's netip
    auto v = parse_uint(part, 255);
    if (!v) return false;
    out[i] = static_cast<std::uint8_t>(*v);
    s = i < 3 ? s.substr(dot + 1) : std::string_view();
  }
  return true;
}

bool parse_v6(std::string_view s, std::uint8_t* out) {
  std::array<std::uint16_t, 8> groups{};
  int n_head = 0, n_tail = 0;
  std::array<std::uint16_t, 8> head{}, tail{};
  bool gap = false;
  auto dc = s.find("::");
  auto parse_list = [&](std::string_view part, std::array<std::uint16_t, 8>& dst, int& n, bool last) -> bool {
    if (part.empty()) return true;
    while (true) {
      auto colon = part.find(':');
      std::string_view g = part.substr(0, colon);
      if (colon == std::string_view::npos && last && g.find('.') != std::string_view::npos) {
        std::uint8_t q[4];
        if (n > 6 || !parse_v4(g, q)) return false;
        dst[n++] = static_cast<std::uint16_t>(q[0] << 8 | q[1]);
        dst[n++] = static_cast<std::uint16_t>(q[2] << 8 | q[3]);
        return true;
      }
      if (g.empty() || g.size() > 4 || n >= 8) return false;
      auto v = parse_uint(g, 0xffff, 16);
      if (!v) return false;
      dst[n++] = static_cast<std::uint16_t>(*v);
      if (colon == std::string_view::npos) return true;
      part = part.substr(colon + 1);
    }
  };
  if (dc != std::string_view::npos) {
    gap = true;
    if (s.find("::", dc + 1) != std::string_view::npos) return false;
    if (!parse_list(s.substr(0, dc), head, n_head, false)) return false;
    if (!parse_list(s.substr(dc + 2), tail, n_tail, true)) return false;
    if (n_head + n_tail > 7) return false;
  } else {
    if (!parse_list(s, head, n_head, true) || n_head != 8) return false;
  }
  for (int i = 0; i < n_head; ++i) groups[i] = head[i];
  if (gap)
    for (int i = 0; i < n_tail; ++i) groups[8 - n_tail + i] = tail[i];
  for (std::size_t i = 0; i < 8; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(groups[i] >> 8);
    out[2 * i + 1] = static_cast<std::uint8_t>(groups[i] & 0xff);
  }
  return true;
}

void clear_host_bits(IpAddress& a, int prefix) {
  int bytes = a.v6 ? 16 : 4;
  for (int i = 0; i < bytes; ++i) {
    int keep = std::min(8, std::max(0, prefix - 8 * i));
    a.bytes[i] &= static_cast<std::uint8_t>(keep == 0 ? 0 : (0xff << (8 - keep)) & 0xff);
  }
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view s) {
  IpAddress a;
  if (s.find(':') != std::string_view::npos) {
    a.v6 = true;
    if (!parse_v6(s, a.bytes.data())) return std::nullopt;
    return a;
  }
  if (!parse_v4(s, a.bytes.data())) return std::nullopt;
  return a;
}

std::string IpAddress::to_string() const {
  char buf[64];
  if (!v6) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", bytes[0], bytes[1], bytes[2], bytes[3]);
    return buf;
  }
  // RFC 5952: the longest run (>= 2) of zero groups becomes "::".
  std::array<unsigned, 8> g{};
  for (std::size_t i = 0; i < 8; ++i) g[i] = static_cast<unsigned>(bytes[2 * i] << 8 | bytes[2 * i + 1]);
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len && j - i >= 2) best = i, best_len = j - i;
    i = j;
  }
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", g[i]);
    out += buf;
  }
  return out;
}

std::optional<Cidr> Cidr::parse(std::string_view s) {
  auto slash = s.find('/');
  auto ip = IpAddress::parse(s.substr(0, slash));
  if (!ip) return std::nullopt;
  int max = ip->v6 ? 128 : 32;
  Cidr c;
  c.prefix = max;
  if (slash != std::string_view::npos) {
    auto p = parse_uint(s.substr(slash + 1), max);
    if (!p) return std::nullopt;
    c.prefix = *p;
  }
  c.base = *ip;
  clear_host_bits(c.base, c.prefix);
  return c;
}

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.v6 != base.v6) return false;
  IpAddress masked = ip;
  clear_host_bits(masked, prefix);
  return masked == base;
}

bool Cidr::contains(const Cidr& other) const {
  return other.base.v6 == base.v6 && other.prefix >= prefix && contains(other.base);
}

std::string Cidr::to_string() const {
  return base.to_string() + "/" + std::to_string(prefix);
}

}  // namespace loki::netpol
