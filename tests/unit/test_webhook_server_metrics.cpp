// Prometheus registry of loki-webhook: text exposition format 0.0.4, thread safety.
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "metrics.hpp"

using loki::webhook::metrics::Registry;

TEST_SUITE("webhook-metrics") {
  TEST_CASE("render: HELP/TYPE lines, sorted families and series, escaped labels") {
    Registry r;
    r.describe("loki_webhook_requests_total", "Admission requests by endpoint and decision.");
    r.inc("loki_webhook_requests_total", {{"endpoint", "/validate"}, {"decision", "deny"}});
    r.inc("loki_webhook_requests_total", {{"decision", "allow"}, {"endpoint", "/validate"}}, 3);
    r.inc("loki_webhook_requests_total", {{"endpoint", "/validate"}, {"decision", "allow"}});  // same series
    r.set("a_gauge", {}, 1.5);
    r.describe("weird", "Help with a \\ backslash\nand a newline.");
    r.inc("weird", {{"path", "C:\\dir \"quoted\"\nnext"}});
    r.gauge_callback("loki_webhook_up", {}, [] { return 1.0; });
    r.set("special", {{"v", "nan"}}, std::nan(""));
    r.set("special", {{"v", "inf"}}, INFINITY);
    r.set("special", {{"v", "ninf"}}, -INFINITY);
    r.set("timestamp_seconds", {}, 1795449600);
    r.set("small", {}, 1e-7);

    const std::string expected =
        "# TYPE a_gauge gauge\n"
        "a_gauge 1.5\n"
        "# HELP loki_webhook_requests_total Admission requests by endpoint and decision.\n"
        "# TYPE loki_webhook_requests_total counter\n"
        "loki_webhook_requests_total{decision=\"allow\",endpoint=\"/validate\"} 4\n"
        "loki_webhook_requests_total{decision=\"deny\",endpoint=\"/validate\"} 1\n"
        "# TYPE loki_webhook_up gauge\n"
        "loki_webhook_up 1\n"
        "# TYPE small gauge\n"
        "small 1e-07\n"
        "# TYPE special gauge\n"
        "special{v=\"inf\"} +Inf\n"
        "special{v=\"nan\"} NaN\n"
        "special{v=\"ninf\"} -Inf\n"
        "# TYPE timestamp_seconds gauge\n"
        "timestamp_seconds 1795449600\n"
        "# HELP weird Help with a \\\\ backslash\\nand a newline.\n"
        "# TYPE weird counter\n"
        "weird{path=\"C:\\\\dir \\\"quoted\\\"\\nnext\"} 1\n";
    CHECK(r.render() == expected);
  }

  TEST_CASE("histogram: cumulative buckets, +Inf, _sum and _count") {
    Registry r;
    r.describe("loki_webhook_request_duration_seconds", "Time to answer a review.");
    for (double v : {0.00005, 0.0001, 0.0003, 0.002, 0.7, 3.0})
      r.observe("loki_webhook_request_duration_seconds", {{"endpoint", "/validate"}}, v);
    const std::string expected =
        "# HELP loki_webhook_request_duration_seconds Time to answer a review.\n"
        "# TYPE loki_webhook_request_duration_seconds histogram\n"
        "loki_webhook_request_duration_seconds_bucket{endpoint=\"/validate\",le=\"0.0001\"} 2\n"
        "loki_webhook_request_duration_seconds_bucket{endpoint=\"/validate\",le=\"0.00025\"} 2\n"
        "loki_webhook_request_duration_seconds_bucket{endpoint=\"/validate\",le=\"0.0005\"} 3\n"
        "loki_webhook_request_duration_seconds_bucket{endpoint=\"/validate\",le=\"0.001\"} 3\n"
        "loki_webhook_request_duration_seconds_bucket{endpoint=\"/validate\",le=\"0.0025\"} 4\n"
        "loki_webhook_request_duration_seconds_bucket{endpoint=\"/validate\",le=\"0.005\"} 4\n"
        "loki_webhook_request_duration_seconds_bucket{endpoint=\"/validate\",le=\"0.01\"} 4\n"
        "loki_webhook_request_duration_seconds_bucket{endpoint=\"/validate\",le=\"0.025\"} 4\n"
        "loki_webhook_request_duration_seconds_bucket{endpoint=\"/validate\",le=\"0.05\"} 4\n"
        "loki_webhook_request_duration_seconds_bucket{endpoint=\"/validate\",le=\"0.1\"} 4\n"
        "loki_webhook_request_duration_seconds_bucket{endpoint=\"/validate\",le=\"0.25\"} 4\n"
        "loki_webhook_request_duration_seconds_bucket{endpoint=\"/validate\",le=\"0.5\"} 4\n"
        "loki_webhook_request_duration_seconds_bucket{endpoint=\"/validate\",le=\"1\"} 5\n"
        "loki_webhook_request_duration_seconds_bucket{endpoint=\"/validate\",le=\"+Inf\"} 6\n"
        "loki_webhook_request_duration_seconds_sum{endpoint=\"/validate\"} 3.70245\n"
        "loki_webhook_request_duration_seconds_count{endpoint=\"/validate\"} 6\n";
    CHECK(r.render() == expected);
  }

  TEST_CASE("type conflicts and bad names are errors") {
    Registry r;
    r.inc("x_total");
    CHECK_THROWS_AS(r.set("x_total", {}, 1), std::logic_error);
    CHECK_THROWS_AS(r.observe("x_total", {}, 1), std::logic_error);
    CHECK_THROWS_AS(r.inc("bad-name"), std::invalid_argument);
    CHECK_THROWS_AS(r.inc("ok", {{"bad-label", "v"}}), std::invalid_argument);
    CHECK_THROWS_AS(r.inc("ok", {{"__reserved", "v"}}), std::invalid_argument);
    CHECK_THROWS_AS(r.inc("ok", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
    CHECK_THROWS_AS(r.observe("h", {{"le", "1"}}, 1), std::invalid_argument);
    r.histogram("h2", {}, {1, 2});
    CHECK_THROWS_AS(r.histogram("h2", {{"x", "y"}}, {1, 3}), std::logic_error);
    CHECK_THROWS_AS(r.histogram("h3", {}, {2, 1}), std::invalid_argument);
  }

  TEST_CASE("callback series: evaluated at scrape time, removable") {
    Registry r;
    double v = 1;
    r.gauge_callback("conns", {{"kind", "tls"}}, [&] { return v; });
    r.counter_callback("accepted_total", {}, [&] { return v * 10; });
    CHECK(r.render() ==
          "# TYPE accepted_total counter\naccepted_total 10\n# TYPE conns gauge\nconns{kind=\"tls\"} 1\n");
    v = 7;
    CHECK(r.render() ==
          "# TYPE accepted_total counter\naccepted_total 70\n# TYPE conns gauge\nconns{kind=\"tls\"} 7\n");
    r.remove_callback("conns", {{"kind", "tls"}});
    r.remove_callback("accepted_total");
    CHECK(r.render().empty());
  }

  TEST_CASE("concurrent updates are not lost") {
    Registry r;
    auto& cached = r.counter("cached_total");
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20000; ++i) {
          r.inc("requests_total", {{"thread", t % 2 ? "odd" : "even"}});
          r.observe("latency_seconds", {}, 0.001);
          cached.inc();
          if (i % 5000 == 0) (void)r.render();
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(r.counter("requests_total", {{"thread", "odd"}}).value() == 40000);
    CHECK(r.counter("requests_total", {{"thread", "even"}}).value() == 40000);
    CHECK(cached.value() == 80000);
    const std::string out = r.render();
    CHECK(out.find("latency_seconds_count 80000\n") != std::string::npos);
    CHECK(out.find("latency_seconds_bucket{le=\"0.001\"} 80000\n") != std::string::npos);
    CHECK(out.find("latency_seconds_bucket{le=\"0.0005\"} 0\n") != std::string::npos);
  }
}
