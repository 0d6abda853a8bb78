// loki-webhook-load: HTTPS keep-alive load generator for loki-webhook.
//
//   loki-webhook-load --url https://127.0.0.1:8443/validate --body review.json --rate 1000 --duration 10
//                     --connections 8 --cacert ca.crt          (or --insecure instead of --cacert)
//
// --rate R: open loop, R requests/s in total on a fixed schedule; a request's latency is measured from
// its scheduled start, so a stalled server shows up as latency instead of silently lowering the rate
// (no coordinated omission). --rate 0: closed loop, each connection sends as fast as it gets answers.
// --expect TEXT: a 2xx response whose body does not contain TEXT counts as a failure ("mismatched"), so a
// server answering fast but wrongly does not pass for a fast one.
// Prints throughput (requests completed after the warm-up / measured seconds; at --rate 0 that is the maximum
// throughput), latency percentiles up to p99.9 and max, the negotiated TLS version and cipher, and the client's
// own CPU time (to tell a saturated client from a saturated server); exit status 1 when any request failed.
// --requests-per-connection N: after N responses a connection is closed and a new one opened (a new TLS
// handshake), so a certificate rotation under load is seen by new handshakes; the JSON output then counts
// handshakes per server-certificate serial ("serials").
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

struct Url {
  std::string host, port, target;
};

Url parse_url(const std::string& url) {
  const std::string scheme = "https://";
  if (url.rfind(scheme, 0) != 0) throw std::runtime_error("--url must start with https://");
  std::string rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  Url u;
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!hostport.empty() && hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string::npos) throw std::runtime_error("bad IPv6 host in --url");
    u.host = hostport.substr(1, close - 1);
    u.port = close + 1 < hostport.size() && hostport[close + 1] == ':' ? hostport.substr(close + 2) : "443";
  } else {
    auto colon = hostport.rfind(':');
    u.host = hostport.substr(0, colon);
    u.port = colon == std::string::npos ? "443" : hostport.substr(colon + 1);
  }
  return u;
}

struct Shared {
  Url url;
  std::string body, content_type, expect;
  double rate = 0;              // requests/s, 0 = closed loop
  unsigned per_connection = 0;  // responses before a new connection (0 = keep the connection)
  Clock::time_point start, warm_end, end;
  std::atomic<std::uint64_t> next_slot{0};
  std::atomic<std::uint64_t> errors{0}, non_2xx{0}, mismatched{0}, reconnects{0}, completed{0};
  std::mutex mu;
  std::vector<double> latencies_us;  // from the scheduled start (== service time at max rate)
  std::vector<double> service_us;    // from the moment the request was written
  std::string first_error, tls_version, tls_cipher;
  std::map<std::string, std::uint64_t> serials;  // handshakes per server-certificate serial (hex)
};

std::string peer_serial(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return "none";
  std::string out = "unknown";
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      out = hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  X509_free(cert);
  return out;
}

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(net::io_context& ioc, ssl::context& ctx, Shared& sh, tcp::resolver::results_type eps)
      : ctx_(ctx), sh_(sh), eps_(std::move(eps)), timer_(net::make_strand(ioc)) {
    lat_.reserve(1 << 16);
    svc_.reserve(1 << 16);
  }
  ~Conn() {
    std::lock_guard lk(sh_.mu);
    sh_.latencies_us.insert(sh_.latencies_us.end(), lat_.begin(), lat_.end());
    sh_.service_us.insert(sh_.service_us.end(), svc_.begin(), svc_.end());
  }

  void start() {
    req_ = {http::verb::post, sh_.url.target, 11};
    req_.set(http::field::host, sh_.url.host);
    req_.set(http::field::user_agent, "loki-webhook-load");
    req_.set(http::field::content_type, sh_.content_type);
    req_.body() = sh_.body;
    req_.prepare_payload();
    connect();
  }

 private:
  void connect() {
    stream_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(timer_.get_executor(), ctx_);
    SSL_set_tlsext_host_name(stream_->native_handle(), sh_.url.host.c_str());
    if (ctx_.native_handle() && SSL_CTX_get_verify_mode(ctx_.native_handle()) != SSL_VERIFY_NONE)
      stream_->set_verify_callback(ssl::host_name_verification(sh_.url.host));
    buffer_.clear();
    beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(*stream_).async_connect(eps_, [self = shared_from_this()](error_code ec, auto) {
      if (ec) return self->fail("connect", ec);
      error_code ignored;
      beast::get_lowest_layer(*self->stream_).socket().set_option(tcp::no_delay(true), ignored);
      self->stream_->async_handshake(ssl::stream_base::client, [self](error_code ec) {
        if (ec) return self->fail("handshake", ec);
        self->on_conn_ = 0;
        std::string serial = peer_serial(self->stream_->native_handle());
        {
          std::lock_guard lk(self->sh_.mu);
          ++self->sh_.serials[serial];
          if (self->sh_.tls_version.empty()) {
            self->sh_.tls_version = SSL_get_version(self->stream_->native_handle());
            self->sh_.tls_cipher = SSL_get_cipher_name(self->stream_->native_handle());
          }
        }
        self->next();
      });
    });
  }

  void fail(const char* what, error_code ec) {
    if (Clock::now() >= sh_.end) return;
    ++sh_.errors;
    {
      std::lock_guard lk(sh_.mu);
      if (sh_.first_error.empty()) sh_.first_error = std::string(what) + ": " + ec.message();
    }
    ++sh_.reconnects;
    timer_.expires_after(std::chrono::milliseconds(10));
    timer_.async_wait([self = shared_from_this()](error_code) { self->connect(); });
  }

  void next() {
    auto now = Clock::now();
    if (now >= sh_.end) return close();
    if (sh_.rate > 0) {
      std::uint64_t slot = sh_.next_slot.fetch_add(1);
      scheduled_ =
          sh_.start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(slot / sh_.rate));
      if (scheduled_ >= sh_.end) return close();
      if (scheduled_ > now) {
        timer_.expires_at(scheduled_);
        timer_.async_wait([self = shared_from_this()](error_code) { self->send(); });
        return;
      }
    } else {
      scheduled_ = now;
    }
    send();
  }

  void send() {
    sent_ = Clock::now();
    if (sh_.rate <= 0) scheduled_ = sent_;
    beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(10));
    http::async_write(*stream_, req_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->fail("write", ec);
      self->res_.emplace();
      self->res_->body_limit(64 * 1024 * 1024);
      http::async_read(*self->stream_, self->buffer_, *self->res_, [self](error_code ec, std::size_t) {
        if (ec) return self->fail("read", ec);
        auto done = Clock::now();
        if (self->scheduled_ >= self->sh_.warm_end) {
          self->lat_.push_back(std::chrono::duration<double, std::micro>(done - self->scheduled_).count());
          self->svc_.push_back(std::chrono::duration<double, std::micro>(done - self->sent_).count());
        }
        ++self->sh_.completed;
        auto status = self->res_->get().result_int();
        if (status < 200 || status > 299) {
          if (self->sh_.non_2xx++ == 0) self->note_first("status " + std::to_string(status));
        } else if (!self->sh_.expect.empty() &&
                   std::string_view(self->res_->get().body()).find(self->sh_.expect) == std::string_view::npos) {
          if (self->sh_.mismatched++ == 0)
            self->note_first("response without --expect text: " + self->res_->get().body());
        }
        bool renew = self->sh_.per_connection > 0 && ++self->on_conn_ >= self->sh_.per_connection;
        if (!self->res_->get().keep_alive() || renew) {
          self->res_.reset();
          if (renew) self->close();
          if (Clock::now() >= self->sh_.end) return;
          return self->connect();
        }
        self->res_.reset();
        self->next();
      });
    });
  }

  void note_first(const std::string& what) {
    std::lock_guard lk(sh_.mu);
    if (sh_.first_error.empty()) sh_.first_error = what.substr(0, 300);
  }

  void close() {
    error_code ec;
    beast::get_lowest_layer(*stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(*stream_).close();
  }

  ssl::context& ctx_;
  Shared& sh_;
  tcp::resolver::results_type eps_;
  net::steady_timer timer_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  std::optional<http::response_parser<http::string_body>> res_;
  Clock::time_point scheduled_, sent_;
  unsigned on_conn_ = 0;
  std::vector<double> lat_, svc_;
};

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(idx, sorted.size() - 1)];
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loki-webhook-load: HTTPS keep-alive load generator"};
  std::string url, body_file, cacert, expect, content_type = "application/json";
  double rate = 0, duration = 10, warmup = 1;
  unsigned connections = 4, threads = 1, per_connection = 0;
  bool insecure = false, json = false;
  app.add_option("--url", url, "https://HOST:PORT/PATH")->required();
  app.add_option("--body", body_file, "file POSTed as the request body (default: {})");
  app.add_option("--content-type", content_type, "Content-Type of the body");
  app.add_option("--rate", rate, "requests/s in total, fixed schedule (0 = as fast as possible)");
  app.add_option("--duration", duration, "seconds of measured load");
  app.add_option("--warmup", warmup, "seconds of load before measuring");
  app.add_option("--connections", connections, "keep-alive connections");
  app.add_option("--threads", threads, "client I/O threads");
  app.add_flag("--insecure,-k", insecure, "do not verify the server certificate");
  app.add_option("--cacert", cacert, "CA bundle to verify the server certificate with");
  app.add_option("--expect", expect, "count a 2xx response whose body lacks this text as a failure");
  app.add_option("--requests-per-connection", per_connection,
                 "open a new connection (new TLS handshake) after this many responses (0 = never)");
  app.add_flag("--json", json, "print one JSON object instead of text");
  CLI11_PARSE(app, argc, argv);
  if (!insecure && cacert.empty()) {
    std::cerr << "loki-webhook-load: give --cacert FILE or --insecure\n";
    return 2;
  }

  Shared sh;
  sh.content_type = content_type;
  sh.expect = expect;
  sh.rate = rate;
  sh.per_connection = per_connection;
  try {
    sh.url = parse_url(url);
    if (!body_file.empty()) {
      std::ifstream in(body_file, std::ios::binary);
      if (!in) throw std::runtime_error("cannot read --body " + body_file);
      std::ostringstream ss;
      ss << in.rdbuf();
      sh.body = ss.str();
    } else {
      sh.body = "{}";
    }
  } catch (const std::exception& e) {
    std::cerr << "loki-webhook-load: " << e.what() << "\n";
    return 2;
  }

  net::io_context ioc(static_cast<int>(std::max(1u, threads)));
  ssl::context ctx(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx.native_handle(), alpn, sizeof alpn);
  if (insecure) {
    ctx.set_verify_mode(ssl::verify_none);
  } else {
    error_code ec;
    ctx.load_verify_file(cacert, ec);
    if (ec) {
      std::cerr << "loki-webhook-load: --cacert " << cacert << ": " << ec.message() << "\n";
      return 2;
    }
    ctx.set_verify_mode(ssl::verify_peer);
  }
  tcp::resolver::results_type eps;
  try {
    tcp::resolver resolver(ioc);
    eps = resolver.resolve(sh.url.host, sh.url.port);
  } catch (const std::exception& e) {
    std::cerr << "loki-webhook-load: cannot resolve " << sh.url.host << ": " << e.what() << "\n";
    return 2;
  }

  sh.start = Clock::now();
  sh.warm_end = sh.start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
  sh.end = sh.warm_end + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration));
  for (unsigned i = 0; i < connections; ++i) std::make_shared<Conn>(ioc, ctx, sh, eps)->start();
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  auto finished = Clock::now();

  std::vector<double>& lat = sh.latencies_us;
  std::vector<double>& svc = sh.service_us;
  std::sort(lat.begin(), lat.end());
  std::sort(svc.begin(), svc.end());
  double measured = std::chrono::duration<double>(std::min(finished, sh.end) - sh.warm_end).count();
  double rps = measured > 0 ? static_cast<double>(lat.size()) / measured : 0;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double client_cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                      static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  auto failures = sh.errors.load() + sh.non_2xx.load() + sh.mismatched.load();
  double p50 = percentile(lat, 50), p90 = percentile(lat, 90), p99 = percentile(lat, 99), p999 = percentile(lat, 99.9),
         max = lat.empty() ? 0 : lat.back();
  std::string serials = "{";
  for (const auto& [serial, n] : sh.serials)
    serials += (serials.size() > 1 ? "," : "") + json_string(serial) + ":" + std::to_string(n);
  serials += "}";
  if (json) {
    std::printf(
        "{\"requests\":%zu,\"seconds\":%.3f,\"rps\":%.1f,\"errors\":%llu,\"non_2xx\":%llu,\"mismatched\":%llu,"
        "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"service_p50_us\":%.1f,"
        "\"service_p99_us\":%.1f,\"service_p999_us\":%.1f,\"rate\":%.1f,\"connections\":%u,\"client_threads\":%u,"
        "\"all_requests\":%llu,\"client_cpu_s\":%.3f,\"tls_version\":%s,\"tls_cipher\":%s,\"first_error\":%s,"
        "\"serials\":%s}\n",
        lat.size(), measured, rps, static_cast<unsigned long long>(sh.errors.load()),
        static_cast<unsigned long long>(sh.non_2xx.load()), static_cast<unsigned long long>(sh.mismatched.load()), p50,
        p90, p99, p999, max, percentile(svc, 50), percentile(svc, 99), percentile(svc, 99.9), rate, connections,
        threads, static_cast<unsigned long long>(sh.completed.load()), client_cpu, json_string(sh.tls_version).c_str(),
        json_string(sh.tls_cipher).c_str(), json_string(sh.first_error).c_str(), serials.c_str());
  } else {
    std::printf("url          %s\n", url.c_str());
    std::printf("mode         %s, %u connection(s), %u thread(s), body %zu bytes\n",
                rate > 0 ? ("fixed rate " + std::to_string(static_cast<long>(rate)) + "/s").c_str() : "max rate",
                connections, threads, sh.body.size());
    std::printf("requests     %zu in %.2f s (after %.1f s warm-up)\n", lat.size(), measured, warmup);
    std::printf("throughput   %.1f req/s\n", rps);
    std::printf("latency      p50 %.1f us   p90 %.1f us   p99 %.1f us   p99.9 %.1f us   max %.1f us\n", p50, p90, p99,
                p999, max);
    if (rate > 0)
      std::printf("service time p50 %.1f us   p90 %.1f us   p99 %.1f us   p99.9 %.1f us   (write -> response)\n",
                  percentile(svc, 50), percentile(svc, 90), percentile(svc, 99), percentile(svc, 99.9));
    std::printf("errors       %llu transport, %llu non-2xx, %llu mismatched\n",
                static_cast<unsigned long long>(sh.errors.load()), static_cast<unsigned long long>(sh.non_2xx.load()),
                static_cast<unsigned long long>(sh.mismatched.load()));
    std::printf("tls          %s %s\n", sh.tls_version.c_str(), sh.tls_cipher.c_str());
    std::printf("client cpu   %.2f s\n", client_cpu);
    if (per_connection > 0) std::printf("handshakes   per certificate serial %s\n", serials.c_str());
    if (!sh.first_error.empty()) std::printf("first error  %s\n", sh.first_error.c_str());
  }
  return failures ? 1 : 0;
}
