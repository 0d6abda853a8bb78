// HTTPS transport of loki-webhook: asynchronous Boost.Beast server, one io_context per thread (a connection
// stays on the thread it was dealt to when accepted), TLS 1.2/1.3 with certificates reloaded from disk,
// HTTP/1.1 keep-alive, limits and timeouts, graceful shutdown. Routing and admission logic live in the Handler.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace loki::webhook {

namespace metrics {
class Registry;
class Histogram;
}  // namespace metrics

struct HttpRequest {
  std::string method, target;
  std::string body;
  std::string remote;  // "10.0.0.7:51234", "[fd00::7]:51234"
  std::string content_type;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Called on a server I/O thread, concurrently for different connections: must be thread-safe. Never
// called with a body over ServerOptions::max_body, nor for methods other than GET and POST (the server
// answers 405 itself). An exception becomes a 500.
using Handler = std::function<HttpResponse(const HttpRequest&)>;

struct ServerOptions {
  std::string listen = ":8443";   // HOST:PORT, [V6]:PORT, ":PORT" = all interfaces (dual-stack when possible)
  std::string tls_cert, tls_key;  // PEM files
  unsigned threads = 2;
  std::size_t max_body = std::size_t{3} * 1024 * 1024;  // the API server's own object limit
  std::size_t max_header = std::size_t{16} * 1024;
  std::chrono::seconds handshake_timeout{10}, read_timeout{10}, idle_timeout{60};
  std::size_t max_connections = 1024;
  std::chrono::seconds cert_poll_interval{2};
  std::chrono::seconds shutdown_grace{25};
  // Optional: observes, per answered request, the seconds from its first byte being read to its response
  // being written (parse + handler + write: the server's own share of the latency). Must outlive the Server.
  metrics::Histogram* request_duration = nullptr;
};

class Server {
 public:
  // Loads the certificate pair and binds the listening socket. Throws std::runtime_error with a clear
  // message (bad cert/key files, bad listen address, bind failure).
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  unsigned short port() const;  // actual bound port
  // Runs `threads` I/O threads (the caller's is one of them) until shutdown completes. Installs nothing
  // global (no signal handlers). Call once.
  void run();
  // Thread-safe, idempotent: stop accepting, finish in-flight requests (their responses carry
  // "Connection: close"), close idle keep-alive connections, force-close whatever remains after
  // shutdown_grace. May be called before run(); run() then returns at once.
  void shutdown();
  // Re-reads cert+key now; false (and the old pair keeps serving) when the new pair is invalid.
  bool reload_certificates();

  struct Stats {
    std::size_t active_connections, total_connections, rejected_connections;
    std::size_t handshake_failures = 0;  // TLS handshakes that failed or timed out
    std::size_t plaintext_requests = 0;  // plain HTTP sent to the TLS port
    std::size_t requests = 0;            // requests answered (any status)
    std::size_t limit_errors = 0;        // 413 / 431 / 400 answers for oversized or malformed requests
    std::size_t timeouts = 0;            // connections closed by handshake/read/idle timeouts
    std::uint64_t cert_reloads = 0, cert_reload_failures = 0;
  };
  Stats stats() const;

  // Subject and serial of the certificate new handshakes get, and its notAfter (unix seconds).
  std::string certificate_serial() const;
  std::int64_t certificate_not_after() const;

  // Registers transport gauges/counters (loki_webhook_connections_active, ..._total, ..._rejected_total,
  // ..._tls_handshake_failures_total, ..._certificate_expiry_timestamp_seconds, ...) as callback series.
  // The registry must not render after the Server is destroyed unless unregister_metrics() was called.
  void register_metrics(metrics::Registry& registry) const;
  static void unregister_metrics(metrics::Registry& registry);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace loki::webhook
