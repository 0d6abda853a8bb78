#include "server.hpp"
#include <malloc.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "metrics.hpp"
#include "tls.hpp"

namespace loki::webhook {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr std::size_t kReadChunk = 4096;
constexpr std::size_t kDrainChunk = std::size_t{16} * 1024;
constexpr std::size_t kDrainMaxBytes = std::size_t{8} * 1024 * 1024;
constexpr std::chrono::milliseconds kDrainTime{1000};
constexpr std::chrono::milliseconds kTlsCloseTime{1000};
// On shutdown, how long a keep-alive connection between requests stays open
// for one more request (answered with "Connection: close"); capped by the
// shutdown grace.
constexpr std::chrono::milliseconds kIdleDrain{1000};

const std::string& plain_http_response() {
  static const std::string body = "Client sent an HTTP request to an HTTPS server.\n";
  static const std::string r =
      "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  return r;
}

// Request bodies from this size on are handled on the offload thread (Server::Impl::offload).
constexpr std::size_t kOffloadBody = std::size_t{256} * 1024;

// mimalloc's "return freed memory to the OS now" when the binary is linked with it (cmake/allocator.cmake);
// null otherwise (weak), so the server does not depend on the allocator chosen.
extern "C" void mi_collect(bool force) __attribute__((weak));

// After a big request: the body near the 3 MiB cap parsed into tens of MB of small JSON nodes. glibc keeps
// freed pages in the thread's arena, mimalloc in the thread's heap until later allocations on that thread
// purge them; an I/O thread that then only serves small reviews never does, so RSS ratcheted up by a
// parsed body per thread (tests/abuse "huge array": 14 -> 52 MiB). Both allocators collect per thread:
// call this on each thread that allocated or freed the big request, after it is freed.
void release_freed_memory() {
  malloc_trim(0);
  if (mi_collect != nullptr) mi_collect(true);
}

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

std::string json_error(std::string_view msg) {
  std::string out = R"({"error":")";
  for (char c : msg) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) >= 0x20) {
      out += c;
    }
  }
  out += "\"}";
  return out;
}

std::string format_endpoint(const tcp::endpoint& ep) {
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) addr = net::ip::make_address_v4(net::ip::v4_mapped, addr.to_v6());
  if (addr.is_v6()) return "[" + addr.to_string() + "]:" + std::to_string(ep.port());
  return addr.to_string() + ":" + std::to_string(ep.port());
}

bool is_http_parse_error(const error_code& ec) {
  static const auto& cat = http::make_error_code(http::error::bad_target).category();
  return ec.category() == cat;
}

bool is_disconnect(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof ||
         ec == ssl::error::stream_truncated || ec == net::error::connection_reset ||
         ec == net::error::connection_aborted || ec == net::error::broken_pipe || ec == net::error::not_connected;
}

// A connection lives on one single-threaded io_context: its socket and timers use that context's
// executor type directly instead of the type-erased any_io_executor (constructing and copying
// any_io_executor was ~3 % of the echo server's instructions per request).
using Executor = net::io_context::executor_type;
using Socket = tcp::socket::rebind_executor<Executor>::other;
using TcpStream = beast::basic_stream<tcp, Executor>;

}  // namespace

class Session;

struct Server::Impl {
  Impl(ServerOptions o, Handler h);
  ~Impl() { destroying.store(true); }

  void open_listener();
  void do_accept();
  void on_accept(error_code ec, Socket socket);
  void schedule_poll();
  void begin_shutdown();
  void on_session_closed(Session* s);
  std::vector<std::shared_ptr<Session>> live_sessions();

  ServerOptions opts;
  Handler handler;
  TlsContextProvider tls;

  std::atomic<std::size_t> active{0}, total{0}, rejected{0}, handshake_failures{0}, plaintext{0}, requests{0},
      limit_errors{0}, timeouts{0};
  std::atomic<bool> stopping{false}, destroying{false}, ran{false};

  std::mutex sessions_mu;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;

  void stop_all();

  // One io_context per I/O thread, each run by that thread alone: a connection is handed to one of them
  // when accepted and all its work (TLS, parsing, handler, write) stays on that thread. On one shared
  // io_context a connection's consecutive steps hopped between threads (cache misses, futex wake-ups:
  // p99 1.9 ms at 1,000 reviews/s with 2 threads against 0.9 ms with 1). No strands: each context is
  // single-threaded. contexts[0] also owns the acceptor and the server's timers.
  // Declared after everything a Session touches in its destructor: the io_contexts (and the handlers
  // that own sessions) are destroyed first.
  std::vector<std::unique_ptr<net::io_context>> contexts;
  // Keep the worker contexts' run() going while they have no connection; released on shutdown.
  std::vector<net::executor_work_guard<net::io_context::executor_type>> idle_guards;
  std::size_t next_context = 0;  // round-robin over contexts; used on contexts[0]'s thread only
  tcp::acceptor acceptor;
  net::steady_timer cert_timer, grace_timer, retry_timer;
  // Runs the handler for big bodies (kOffloadBody): with a connection pinned to its I/O thread, a 1 s
  // review would stall that thread's other connections (abuse test "huge array": p99 450 ms). Declared
  // after the contexts: its queued work holds work guards on them.
  net::thread_pool offload{1};
  unsigned short port = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl& srv, Socket&& socket, std::shared_ptr<ssl::context> ctx)
      : srv_(srv), ctx_(std::move(ctx)), stream_(std::move(socket), *ctx_), drain_timer_(stream_.get_executor()) {
    // Asio sets SSL_MODE_RELEASE_BUFFERS, so every request allocated and freed
    // ~17 KB of record buffers; keep them per connection (keep-alive).
    SSL_clear_mode(stream_.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    error_code ec;
    auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    remote_ = ec ? std::string("unknown") : format_endpoint(ep);
  }
  ~Session() { srv_.on_session_closed(this); }

  auto executor() { return stream_.get_executor(); }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_detect(); });
  }

  // Server is shutting down (on the session's thread). Connections still handshaking are closed now;
  // a request being read, handled or written finishes and its response carries "Connection: close".
  // A keep-alive connection between requests is not closed at once: its client (the API server) may
  // be sending the next request on it at this moment, and closing would fail that call (refused under
  // failurePolicy: Fail). It gets kIdleDrain (at most the grace) for one more request, answered with
  // "Connection: close"; if it stays idle it is closed then.
  void on_server_stop() {
    if (state_ == State::detecting || state_ == State::handshaking) return close_now();
    if (state_ == State::idle) arm_idle_drain();
    // reading/handling/writing: when the response is written, wait_for_request() arms the same drain,
    // because the client may already be sending its next request on this keep-alive connection.
  }
  void force_close() { close_now(); }

 private:
  void arm_idle_drain() {
    drain_timer_.expires_after(std::min<std::chrono::steady_clock::duration>(kIdleDrain, srv_.opts.shutdown_grace));
    drain_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && self->state_ == State::idle) self->close_now();
    });
  }

  enum class State { detecting, handshaking, idle, reading, handling, writing, closing };

  TcpStream& lowest() { return beast::get_lowest_layer(stream_); }

  void do_detect() {
    state_ = State::detecting;
    if (srv_.stopping) return close_now();
    lowest().expires_after(srv_.opts.handshake_timeout);
    beast::async_detect_ssl(lowest(), buffer_, beast::bind_front_handler(&Session::on_detect, shared_from_this()));
  }

  void on_detect(error_code ec, bool is_tls) {
    if (ec) {
      ++srv_.handshake_failures;
      if (ec == beast::error::timeout) ++srv_.timeouts;
      spdlog::debug("TLS handshake from {} failed: {}", remote_, ec.message());
      return close_now();
    }
    if (!is_tls) {
      ++srv_.plaintext;
      spdlog::debug("plain HTTP request from {} on the TLS port", remote_);
      state_ = State::closing;
      lowest().expires_after(srv_.opts.read_timeout);
      net::async_write(lowest(), net::buffer(plain_http_response()),
                       [self = shared_from_this()](error_code ec, std::size_t) {
                         if (ec) return self->close_now();
                         error_code ignored;
                         self->lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
                         self->drain(false);
                       });
      return;
    }
    state_ = State::handshaking;
    stream_.async_handshake(ssl::stream_base::server, buffer_.data(),
                            beast::bind_front_handler(&Session::on_handshake, shared_from_this()));
  }

  void on_handshake(error_code ec, std::size_t used) {
    if (ec) {
      ++srv_.handshake_failures;
      if (ec == beast::error::timeout) ++srv_.timeouts;
      spdlog::debug("TLS handshake from {} failed: {}", remote_, ec.message());
      return close_now();
    }
    buffer_.consume(used);
    start_read();
  }

  void start_read() {
    parser_.emplace();
    parser_->body_limit(srv_.opts.max_body);
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(srv_.opts.max_header, std::numeric_limits<std::uint32_t>::max())));
    if (buffer_.size() == 0) {
      wait_for_request();
    } else {
      request_start_ = std::chrono::steady_clock::now();
      read_header();  // pipelined bytes already buffered
    }
  }

  // Between requests: wait for the first byte with the idle timeout (the read timeout before the first
  // request), so an idle keep-alive connection and a request being read have separate deadlines.
  void wait_for_request() {
    state_ = State::idle;
    // Stopping since this connection's last request: not closed at once (the client cannot tell the
    // close from a failure if its next request is already on the way), but drained like on_server_stop.
    if (srv_.stopping) arm_idle_drain();
    lowest().expires_after(first_request_ ? srv_.opts.read_timeout : srv_.opts.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kReadChunk), [self = shared_from_this()](error_code ec, std::size_t n) {
      self->buffer_.commit(n);
      if (ec) {
        if (ec == beast::error::timeout) {
          ++self->srv_.timeouts;
          spdlog::debug("connection from {}: {} timeout", self->remote_, self->first_request_ ? "read" : "idle");
        }
        return self->close_now();
      }
      self->request_start_ = std::chrono::steady_clock::now();
      self->read_header();
    });
  }

  void read_header() {
    state_ = State::reading;
    lowest().expires_after(srv_.opts.read_timeout);  // covers the whole request: header and body
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    if (parser_->is_done()) return handle();
    const auto& req = parser_->get();
    if (req.version() >= 11 && beast::iequals(req[http::field::expect], "100-continue")) {
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = shared_from_this()](error_code ec, std::size_t) {
                         if (ec) return self->close_now();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->on_read_error(ec);
      self->handle();
    });
  }

  void on_read_error(const error_code& ec) {
    if (ec == beast::error::timeout) {
      ++srv_.timeouts;
      spdlog::debug("connection from {}: read timeout", remote_);
      return close_now();
    }
    if (ec == net::error::operation_aborted || is_disconnect(ec)) return close_now();
    if (ec == http::error::body_limit) {
      return send_error(http::status::payload_too_large,
                        "request body exceeds the limit of " + std::to_string(srv_.opts.max_body) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return send_error(http::status::request_header_fields_too_large,
                        "request header exceeds the limit of " + std::to_string(srv_.opts.max_header) + " bytes");
    }
    if (is_http_parse_error(ec))
      return send_error(http::status::bad_request, "malformed HTTP request: " + ec.message());
    spdlog::debug("connection from {}: read failed: {}", remote_, ec.message());
    close_now();
  }

  void handle() {
    state_ = State::handling;
    first_request_ = false;
    auto& req = parser_->get();
    res_ = {};
    res_.version(req.version() == 10 ? 10 : 11);
    const bool keep_alive = req.keep_alive();
    if (req.method() != http::verb::get && req.method() != http::verb::post) {
      res_.result(http::status::method_not_allowed);
      res_.set(http::field::allow, "GET, POST");
      res_.set(http::field::content_type, "application/json");
      res_.body() = json_error("method not allowed");
      return respond(keep_alive);
    }
    HttpRequest in;
    in.method = std::string(req.method_string());
    in.target = std::string(req.target());
    in.content_type = std::string(req[http::field::content_type]);
    in.remote = remote_;
    in.body = std::move(req.body());
    if (in.body.size() < kOffloadBody) {
      set_response(call_handler(in));
      return respond(keep_alive);
    }
    // A big body takes the handler up to a second (3 MiB of JSON): run it on the offload thread so the
    // other connections on this I/O thread are not stalled behind it. The work guard keeps this
    // connection's io_context running (through shutdown) until the response is back on it.
    net::post(srv_.offload, [self = shared_from_this(), in = std::move(in), keep_alive,
                             guard = net::make_work_guard(executor())]() mutable {
      HttpResponse out = self->call_handler(in);
      std::string{}.swap(in.body);  // freed here, before collecting
      release_freed_memory();
      net::post(guard.get_executor(), [self, out = std::move(out), keep_alive]() mutable {
        self->set_response(std::move(out));
        self->respond(keep_alive);
        release_freed_memory();  // the read buffers this I/O thread grew for the body
      });
    });
  }

  HttpResponse call_handler(const HttpRequest& in) {
    HttpResponse out;
    try {
      out = srv_.handler(in);
    } catch (const std::exception& e) {
      spdlog::error("webhook handler failed for {} {} from {}: {}", in.method, in.target, remote_, e.what());
      out = HttpResponse{500, "application/json", json_error("internal server error")};
    } catch (...) {
      spdlog::error("webhook handler failed for {} {} from {}", in.method, in.target, remote_);
      out = HttpResponse{500, "application/json", json_error("internal server error")};
    }
    if (out.status < 200 || out.status > 599) {
      spdlog::error("webhook handler returned invalid status {} for {}; answering 500", out.status, in.target);
      out = HttpResponse{500, "application/json", json_error("internal server error")};
    }
    return out;
  }

  void set_response(HttpResponse out) {
    res_.result(out.status);
    if (!out.content_type.empty()) res_.set(http::field::content_type, out.content_type);
    res_.body() = std::move(out.body);
  }

  void respond(bool keep_alive) {
    parser_.reset();
    close_after_ = !keep_alive || srv_.stopping;
    res_.keep_alive(!close_after_);
    res_.prepare_payload();
    ++srv_.requests;
    state_ = State::writing;
    lowest().expires_after(srv_.opts.read_timeout);
    http::async_write(stream_, res_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) {
        if (ec == beast::error::timeout) ++self->srv_.timeouts;
        return self->close_now();
      }
      if (auto* h = self->srv_.opts.request_duration)
        h->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - self->request_start_).count());
      self->res_ = {};
      if (self->close_after_) return self->close_tls();
      self->start_read();
    });
  }

  // A clean HTTP error for a request that broke a limit, then close: the rest of the request is not read.
  void send_error(http::status status, std::string msg) {
    ++srv_.limit_errors;
    ++srv_.requests;
    spdlog::debug("connection from {}: {} {}", remote_, static_cast<unsigned>(status), msg);
    state_ = State::writing;
    res_ = {};
    res_.version(11);
    res_.result(status);
    res_.set(http::field::content_type, "application/json");
    res_.body() = json_error(msg);
    res_.keep_alive(false);
    res_.prepare_payload();
    parser_.reset();
    lowest().expires_after(srv_.opts.read_timeout);
    http::async_write(stream_, res_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->close_now();
      self->drain(true);
    });
  }

  // Lingering close: read and discard what the client is still sending (bounded in time and bytes) so
  // that closing with unread data does not reset the connection before the client has read our answer.
  void drain(bool tls) {
    state_ = State::closing;
    if (!scratch_) {
      scratch_ = std::make_unique<char[]>(kDrainChunk);
      lowest().expires_after(kDrainTime);
    }
    auto on_read = [self = shared_from_this(), tls](error_code ec, std::size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kDrainMaxBytes) return self->close_now();
      self->drain(tls);
    };
    if (tls) {
      stream_.async_read_some(net::buffer(scratch_.get(), kDrainChunk), std::move(on_read));
    } else {
      lowest().async_read_some(net::buffer(scratch_.get(), kDrainChunk), std::move(on_read));
    }
  }

  // TLS close_notify, waiting briefly for the peer's, then close.
  void close_tls() {
    state_ = State::closing;
    lowest().expires_after(kTlsCloseTime);
    stream_.async_shutdown([self = shared_from_this()](error_code) { self->close_now(); });
  }

  void close_now() {
    state_ = State::closing;
    error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
  }

  Server::Impl& srv_;
  std::shared_ptr<ssl::context> ctx_;  // the certificate this connection started with
  beast::ssl_stream<TcpStream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::string remote_;
  State state_ = State::detecting;
  bool first_request_ = true;
  std::chrono::steady_clock::time_point request_start_;
  bool close_after_ = false;
  std::unique_ptr<char[]> scratch_;
  std::size_t drained_ = 0;
  net::basic_waitable_timer<std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>, Executor>
      drain_timer_;  // shutdown: closes a connection that stayed idle (on_server_stop)
};

// ---- Server::Impl ---------------------------------------------------------------------------------

namespace {

struct ListenAddress {
  std::string host, port;
};

ListenAddress split_listen(const std::string& listen) {
  ListenAddress out;
  if (!listen.empty() && listen.front() == '[') {
    auto close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
      throw std::runtime_error("invalid listen address '" + listen + "': expected [IPV6]:PORT");
    out.host = listen.substr(1, close - 1);
    out.port = listen.substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos)
      throw std::runtime_error("invalid listen address '" + listen + "': expected HOST:PORT or :PORT");
    out.host = listen.substr(0, colon);
    out.port = listen.substr(colon + 1);
    if (out.host.find(':') != std::string::npos)
      throw std::runtime_error("invalid listen address '" + listen + "': write IPv6 addresses as [ADDR]:PORT");
  }
  if (out.port.empty() || out.port.size() > 5 ||
      !std::all_of(out.port.begin(), out.port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoul(out.port) > 65535)
    throw std::runtime_error("invalid listen address '" + listen + "': bad port '" + out.port + "'");
  return out;
}

// Concurrency hint 1: each context is run by one thread (Asio then skips waking other threads).
std::vector<std::unique_ptr<net::io_context>> make_contexts(unsigned threads) {
  std::vector<std::unique_ptr<net::io_context>> out;
  for (unsigned i = 0; i < std::max(1u, threads); ++i) out.push_back(std::make_unique<net::io_context>(1));
  return out;
}

}  // namespace

Server::Impl::Impl(ServerOptions o, Handler h)
    : opts(std::move(o)),
      handler(std::move(h)),
      tls(opts.tls_cert, opts.tls_key),
      contexts(make_contexts(opts.threads)),
      acceptor(*contexts.front()),
      cert_timer(*contexts.front()),
      grace_timer(*contexts.front()),
      retry_timer(*contexts.front()) {
  if (!handler) throw std::runtime_error("webhook server: no request handler");
  if (opts.threads == 0) opts.threads = 1;
  for (std::size_t i = 1; i < contexts.size(); ++i) idle_guards.emplace_back(contexts[i]->get_executor());
  open_listener();
  net::post(*contexts.front(), [this] {
    do_accept();
    schedule_poll();
  });
}

void Server::Impl::open_listener() {
  ListenAddress la = split_listen(opts.listen);
  const auto port_num = static_cast<unsigned short>(std::stoul(la.port));
  std::vector<tcp::endpoint> candidates;
  bool dual_stack = false;
  if (la.host.empty()) {
    candidates.emplace_back(tcp::v6(), port_num);
    candidates.emplace_back(tcp::v4(), port_num);
    dual_stack = true;
  } else {
    error_code ec;
    auto addr = net::ip::make_address(la.host, ec);
    if (!ec) {
      candidates.emplace_back(addr, port_num);
    } else {
      tcp::resolver resolver(*contexts.front());
      auto results = resolver.resolve(la.host, la.port, tcp::resolver::numeric_service, ec);
      if (ec)
        throw std::runtime_error("cannot listen on '" + opts.listen + "': cannot resolve '" + la.host +
                                 "': " + ec.message());
      for (const auto& r : results) candidates.push_back(r.endpoint());
    }
  }
  std::string last_error;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const auto& ep = candidates[i];
    error_code ec;
    acceptor.open(ep.protocol(), ec);
    if (ec) {
      last_error = ec.message();
      continue;  // e.g. no IPv6 on this host: fall back to IPv4
    }
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (dual_stack && ep.protocol() == tcp::v6()) acceptor.set_option(net::ip::v6_only(false), ec);
    acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (!ec) {
      port = acceptor.local_endpoint().port();
      return;
    }
    last_error = ec.message();
    error_code ignored;
    acceptor.close(ignored);
    // A bind failure on the dual-stack socket (port taken) is final; only "family not supported" falls back.
    if (dual_stack && ec != net::error::address_family_not_supported) break;
  }
  throw std::runtime_error("cannot listen on '" + opts.listen + "': " + last_error);
}

void Server::Impl::do_accept() {
  if (stopping) return;
  // Round-robin: connections spread evenly (SO_REUSEPORT listeners per thread hash the 4-tuple instead:
  // 8 connections split 4/4 over 2 listeners in only 31 % of trials, 2/6 or worse in 27 %).
  auto& target = *contexts[next_context];
  next_context = (next_context + 1) % contexts.size();
  acceptor.async_accept(target, beast::bind_front_handler(&Impl::on_accept, this));
}

void Server::Impl::on_accept(error_code ec, Socket socket) {
  if (ec) {
    if (ec == net::error::operation_aborted || !acceptor.is_open() || stopping) return;
    spdlog::warn("webhook server: accept failed: {}", ec.message());
    // Out of file descriptors and the like: back off briefly instead of spinning.
    retry_timer.expires_after(std::chrono::milliseconds(50));
    retry_timer.async_wait([this](error_code e) {
      if (!e) do_accept();
    });
    return;
  }
  if (stopping) return;
  if (active.load() >= opts.max_connections) {
    ++rejected;
    spdlog::debug("webhook server: connection limit {} reached, rejecting a connection", opts.max_connections);
    error_code ignored;
    socket.close(ignored);
    return do_accept();
  }
  ++active;
  ++total;
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);  // request/response: no Nagle delay on small writes
  auto s = std::make_shared<Session>(*this, std::move(socket), tls.current());
  {
    std::lock_guard lk(sessions_mu);
    sessions.emplace(s.get(), s);
  }
  s->start();
  do_accept();
}

void Server::Impl::schedule_poll() {
  if (opts.cert_poll_interval.count() <= 0 || stopping) return;
  cert_timer.expires_after(opts.cert_poll_interval);
  cert_timer.async_wait([this](error_code ec) {
    if (ec || stopping) return;
    tls.poll();
    schedule_poll();
  });
}

std::vector<std::shared_ptr<Session>> Server::Impl::live_sessions() {
  std::vector<std::shared_ptr<Session>> out;
  std::lock_guard lk(sessions_mu);
  out.reserve(sessions.size());
  for (auto& [p, w] : sessions)
    if (auto s = w.lock()) out.push_back(std::move(s));
  return out;
}

void Server::Impl::begin_shutdown() {
  if (stopping.exchange(true)) return;
  net::post(*contexts.front(), [this] {
    error_code ignored;
    acceptor.close(ignored);
    // After the acceptor is closed (on this thread, so no accept is in flight): a worker context's run()
    // returns once its last connection has closed.
    idle_guards.clear();
    cert_timer.cancel();
    retry_timer.cancel();
    auto live = live_sessions();
    spdlog::info("webhook server: shutting down; {} open connection(s)", live.size());
    for (auto& s : live) net::post(s->executor(), [s] { s->on_server_stop(); });
    live.clear();
    if (active.load() == 0) return;
    grace_timer.expires_after(opts.shutdown_grace);
    grace_timer.async_wait([this](error_code ec) {
      if (ec) return;  // every connection finished in time
      auto left = live_sessions();
      spdlog::warn("webhook server: shutdown grace period of {}s expired; force-closing {} connection(s)",
                   opts.shutdown_grace.count(), left.size());
      for (auto& s : left) net::post(s->executor(), [s] { s->force_close(); });
      left.clear();
      // Let the closes run, then make every I/O thread return (a handler still running keeps its thread).
      grace_timer.expires_after(std::chrono::milliseconds(200));
      grace_timer.async_wait([this](error_code e) {
        if (!e) stop_all();
      });
    });
  });
}

void Server::Impl::on_session_closed(Session* s) {
  {
    std::lock_guard lk(sessions_mu);
    sessions.erase(s);
  }
  if (--active == 0 && stopping && !destroying) net::post(*contexts.front(), [this] { grace_timer.cancel(); });
}

void Server::Impl::stop_all() {
  for (auto& c : contexts) c->stop();
}

// ---- Server -----------------------------------------------------------------------------------------

Server::Server(ServerOptions options, Handler handler) {
  try {
    impl_ = std::make_shared<Impl>(std::move(options), std::move(handler));
  } catch (const std::runtime_error&) {
    throw;
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("webhook server: ") + e.what());
  }
  spdlog::info("webhook server: listening on port {} ({}), certificate serial {}", impl_->port, impl_->opts.listen,
               impl_->tls.info().serial_hex);
}

Server::~Server() = default;

unsigned short Server::port() const {
  return impl_->port;
}

void Server::run() {
  if (impl_->ran.exchange(true)) throw std::logic_error("webhook server: run() called twice");
  auto work = [](net::io_context& ioc) {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("webhook server: unexpected exception in I/O thread: {}", e.what());
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < impl_->contexts.size(); ++i)
    threads.emplace_back([&work, &ioc = *impl_->contexts[i]] { work(ioc); });
  work(*impl_->contexts.front());
  for (auto& t : threads) t.join();
  impl_->offload.join();
  spdlog::info("webhook server: stopped");
}

void Server::shutdown() {
  impl_->begin_shutdown();
}

bool Server::reload_certificates() {
  return impl_->tls.reload();
}

Server::Stats Server::stats() const {
  Stats s{impl_->active.load(), impl_->total.load(), impl_->rejected.load()};
  s.handshake_failures = impl_->handshake_failures.load();
  s.plaintext_requests = impl_->plaintext.load();
  s.requests = impl_->requests.load();
  s.limit_errors = impl_->limit_errors.load();
  s.timeouts = impl_->timeouts.load();
  s.cert_reloads = impl_->tls.reloads();
  s.cert_reload_failures = impl_->tls.reload_failures();
  return s;
}

std::string Server::certificate_serial() const {
  return impl_->tls.info().serial_hex;
}

std::int64_t Server::certificate_not_after() const {
  return std::chrono::duration_cast<std::chrono::seconds>(impl_->tls.info().not_after.time_since_epoch()).count();
}

void Server::register_metrics(metrics::Registry& r) const {
  std::weak_ptr<Impl> w = impl_;
  auto read = [w](auto f) {
    return [w, f]() -> double {
      auto p = w.lock();
      return p ? static_cast<double>(f(*p)) : std::nan("");
    };
  };
  r.describe("loki_webhook_connections_active", "Open client connections.");
  r.gauge_callback("loki_webhook_connections_active", {}, read([](Impl& i) { return i.active.load(); }));
  r.describe("loki_webhook_connections_total", "Accepted client connections.");
  r.counter_callback("loki_webhook_connections_total", {}, read([](Impl& i) { return i.total.load(); }));
  r.describe("loki_webhook_connections_rejected_total", "Connections closed at once because of the connection cap.");
  r.counter_callback("loki_webhook_connections_rejected_total", {}, read([](Impl& i) { return i.rejected.load(); }));
  r.describe("loki_webhook_tls_handshake_failures_total", "TLS handshakes that failed or timed out.");
  r.counter_callback("loki_webhook_tls_handshake_failures_total", {},
                     read([](Impl& i) { return i.handshake_failures.load(); }));
  r.describe("loki_webhook_http_limit_errors_total", "Requests answered 400/413/431 for breaking a limit.");
  r.counter_callback("loki_webhook_http_limit_errors_total", {}, read([](Impl& i) { return i.limit_errors.load(); }));
  r.describe("loki_webhook_connection_timeouts_total", "Connections closed by a handshake, read or idle timeout.");
  r.counter_callback("loki_webhook_connection_timeouts_total", {}, read([](Impl& i) { return i.timeouts.load(); }));
  r.describe("loki_webhook_certificate_reloads_total", "Certificate reloads, by result.");
  r.counter_callback("loki_webhook_certificate_reloads_total", {{"result", "success"}},
                     read([](Impl& i) { return i.tls.reloads(); }));
  r.counter_callback("loki_webhook_certificate_reloads_total", {{"result", "failure"}},
                     read([](Impl& i) { return i.tls.reload_failures(); }));
  r.describe("loki_webhook_certificate_expiry_timestamp_seconds", "notAfter of the serving certificate (unix time).");
  r.gauge_callback(
      "loki_webhook_certificate_expiry_timestamp_seconds", {}, read([](Impl& i) {
        return std::chrono::duration_cast<std::chrono::seconds>(i.tls.info().not_after.time_since_epoch()).count();
      }));
}

void Server::unregister_metrics(metrics::Registry& r) {
  for (const char* n :
       {"loki_webhook_connections_active", "loki_webhook_connections_total", "loki_webhook_connections_rejected_total",
        "loki_webhook_tls_handshake_failures_total", "loki_webhook_http_limit_errors_total",
        "loki_webhook_connection_timeouts_total", "loki_webhook_certificate_expiry_timestamp_seconds"})
    r.remove_callback(n);
  r.remove_callback("loki_webhook_certificate_reloads_total", {{"result", "success"}});
  r.remove_callback("loki_webhook_certificate_reloads_total", {{"result", "failure"}});
}

}  // namespace loki::webhook
