// loki-webhook-echo: the webhook HTTPS transport with an echo handler, to measure the transport alone
// with loki-webhook-load. Also serves GET /metrics (transport metrics + a request latency histogram).
//
//   loki-webhook-echo --tls-cert tls.crt --tls-key tls.key --listen 127.0.0.1:8443 --threads 2
#include <pthread.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "metrics.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
  CLI::App app{"loki-webhook-echo: echo handler on the webhook HTTPS transport"};
  loki::webhook::ServerOptions opts;
  opts.listen = "127.0.0.1:8443";
  app.add_option("--listen", opts.listen, "HOST:PORT");
  app.add_option("--tls-cert", opts.tls_cert, "PEM certificate")->required();
  app.add_option("--tls-key", opts.tls_key, "PEM private key")->required();
  app.add_option("--threads", opts.threads, "I/O threads");
  app.add_option("--max-connections", opts.max_connections, "connection cap");
  bool no_metrics = false;
  app.add_flag("--no-metrics", no_metrics, "skip the per-request histogram");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "spdlog level");
  CLI11_PARSE(app, argc, argv);
  // SIGINT/SIGTERM are handled by a thread in sigwait() (no work in a signal handler); block them before
  // the server starts its threads so they inherit the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  spdlog::set_level(spdlog::level::from_str(log_level));

  loki::webhook::metrics::Registry registry;
  auto& latency = registry.histogram("loki_webhook_request_duration_seconds", {{"endpoint", "echo"}});
  auto& requests = registry.counter("loki_webhook_requests_total", {{"endpoint", "echo"}});
  registry.describe("loki_webhook_server_request_duration_seconds",
                    "Server-side time per request: first byte read to response written.");
  if (!no_metrics) opts.request_duration = &registry.histogram("loki_webhook_server_request_duration_seconds");
  try {
    loki::webhook::Server server(opts, [&](const loki::webhook::HttpRequest& req) {
      if (req.method == "GET" && req.target == "/metrics")
        return loki::webhook::HttpResponse{200, loki::webhook::metrics::kContentType, registry.render()};
      auto t0 = std::chrono::steady_clock::now();
      loki::webhook::HttpResponse res{200, "application/json", req.body};
      if (!no_metrics) {
        requests.inc();
        latency.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      return res;
    });
    server.register_metrics(registry);
    std::thread([&server, sigs] {
      int sig = 0;
      sigwait(&sigs, &sig);
      server.shutdown();
    }).detach();
    std::cout << "listening on port " << server.port() << std::endl;
    server.run();
    loki::webhook::Server::unregister_metrics(registry);
  } catch (const std::exception& e) {
    std::cerr << "loki-webhook-echo: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
