// The Kubernetes client against the real kube-apiserver of tests/cluster/up
// (run through tests/cluster/with-cluster-env: KUBECONFIG, KUBECTL, tokens).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <loki/kube_client.hpp>
#include <loki/kubeconfig.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string env(const char* k) {
  const char* v = std::getenv(k);
  REQUIRE_MESSAGE(v, "run through tests/cluster/with-cluster-env: " << k << " is not set");
  return v;
}

int kubectl(const std::string& args, const std::string& stdin_text = "") {
  std::string cmd = env("KUBECTL") + " " + args + " >/dev/null 2>&1";
  if (stdin_text.empty()) return std::system(cmd.c_str());
  FILE* p = popen(cmd.c_str(), "w");
  REQUIRE(p);
  std::fputs(stdin_text.c_str(), p);
  return pclose(p);
}

loki::ClusterConfig admin() {
  return loki::load_cluster_config({env("KUBECONFIG"), ""});
}

std::string unique(const std::string& base) {
  return base + "-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
}

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds limit = 15s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (p()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return p();
}

std::string policy_yaml(const std::string& ns, const std::string& name) {
  return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
         "\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n";
}

}  // namespace

TEST_CASE("discovery: served types and absent CRDs") {
  loki::KubeClient c(admin());
  CHECK(c.serves(loki::resources::networkpolicies));
  CHECK(c.serves(loki::resources::pods));
  CHECK_FALSE(c.serves(loki::resources::ciliumnetworkpolicies));  // no Cilium CRD here
}

TEST_CASE("list: pagination with limit/continue returns every object once") {
  const std::string ns = unique("lg-list");
  REQUIRE(kubectl("create namespace " + ns) == 0);
  std::string yaml;
  for (int i = 0; i < 23; ++i) yaml += "---\n" + policy_yaml(ns, "p" + std::to_string(i));
  REQUIRE(kubectl("apply -f -", yaml) == 0);
  loki::KubeClient c(admin());
  auto r = c.list(loki::resources::networkpolicies, ns, 5);
  CHECK(r.items.size() == 23);
  CHECK(r.pages == 5);
  CHECK_FALSE(r.resourceVersion.empty());
  std::set<std::string> names;
  for (auto& i : r.items) {
    CHECK(i["kind"] == "NetworkPolicy");
    CHECK(i["apiVersion"] == "networking.k8s.io/v1");
    names.insert(i["metadata"]["name"].get<std::string>());
  }
  CHECK(names.size() == 23);
  CHECK(c.stats().connections == 1);  // keep-alive: one connection for all pages
  kubectl("delete namespace " + ns + " --wait=false");
}

TEST_CASE("watch: events after the list's resourceVersion, 410 for a bad one") {
  const std::string ns = unique("lg-watch");
  REQUIRE(kubectl("create namespace " + ns) == 0);
  loki::KubeClient c(admin());
  auto r = c.list(loki::resources::networkpolicies, ns);
  std::thread creator([&] {
    std::this_thread::sleep_for(300ms);
    kubectl("apply -f -", policy_yaml(ns, "watched"));
    std::this_thread::sleep_for(300ms);
    kubectl("delete networkpolicy watched -n " + ns);
  });
  std::vector<std::string> seen;
  c.watch(
      loki::resources::networkpolicies, ns, r.resourceVersion,
      [&](loki::WatchEvent&& ev) {
        if (ev.type == "BOOKMARK") return true;
        seen.push_back(ev.type + ":" + ev.object["metadata"]["name"].get<std::string>());
        return seen.size() < 2;
      },
      20);
  creator.join();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == "ADDED:watched");
  CHECK(seen[1] == "DELETED:watched");
  kubectl("delete namespace " + ns + " --wait=false");
}

TEST_CASE("reflector: syncs, follows changes, stops promptly") {
  const std::string ns = unique("lg-refl");
  REQUIRE(kubectl("create namespace " + ns) == 0);
  REQUIRE(kubectl("apply -f -", policy_yaml(ns, "before")) == 0);
  loki::Reflector refl(admin(), loki::resources::networkpolicies, ns);
  std::atomic<int> changes{0};
  refl.on_change([&] { ++changes; });
  refl.start();
  REQUIRE(eventually([&] { return refl.synced(); }));
  CHECK(refl.snapshot()->count(ns + "/before") == 1);
  REQUIRE(kubectl("apply -f -", policy_yaml(ns, "after")) == 0);
  CHECK(eventually([&] { return refl.snapshot()->count(ns + "/after") == 1; }));
  REQUIRE(kubectl("delete networkpolicy before -n " + ns) == 0);
  CHECK(eventually([&] { return refl.snapshot()->count(ns + "/before") == 0; }));
  CHECK(refl.healthy());
  CHECK(changes.load() >= 3);
  auto t0 = std::chrono::steady_clock::now();
  refl.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);  // does not wait for the 60 s watch timeout
  kubectl("delete namespace " + ns + " --wait=false");
}

TEST_CASE("list_pages: each page as it arrives, in order, and the same objects as list()") {
  const std::string ns = unique("lg-pages");
  REQUIRE(kubectl("create namespace " + ns) == 0);
  std::string yaml;
  for (int i = 0; i < 23; ++i) yaml += "---\n" + policy_yaml(ns, "p" + std::to_string(i));
  REQUIRE(kubectl("apply -f -", yaml) == 0);
  loki::KubeClient c(admin());
  std::vector<std::size_t> sizes;
  std::vector<std::string> paged, listed;
  int restarts = 0;
  auto r = c.list_pages(
      loki::resources::networkpolicies, ns, 5,
      [&](std::vector<json>&& items) {
        sizes.push_back(items.size());
        for (auto& i : items) {
          CHECK(i["kind"] == "NetworkPolicy");
          paged.push_back(i["metadata"]["name"].get<std::string>());
        }
      },
      [&] { ++restarts; });
  CHECK(sizes == std::vector<std::size_t>{5, 5, 5, 5, 3});
  CHECK(r.pages == 5);
  CHECK(r.items.empty());
  CHECK_FALSE(r.resourceVersion.empty());
  CHECK(restarts == 0);
  for (auto& i : c.list(loki::resources::networkpolicies, ns, 7).items)
    listed.push_back(i["metadata"]["name"].get<std::string>());
  CHECK(paged == listed);
  kubectl("delete namespace " + ns + " --wait=false");
}

TEST_CASE("reflector with a sink: the list page by page on a helper thread, one commit, then watch events") {
  const std::string ns = unique("lg-sink");
  REQUIRE(kubectl("create namespace " + ns) == 0);
  std::string yaml;
  for (int i = 0; i < 12; ++i) yaml += "---\n" + policy_yaml(ns, "p" + std::to_string(i));
  REQUIRE(kubectl("apply -f -", yaml) == 0);
  loki::Reflector refl(admin(), loki::resources::networkpolicies, ns);
  refl.set_page_size(5);
  std::mutex mu;
  std::vector<std::string> calls, staged, committed, events;
  std::set<std::thread::id> page_threads;
  std::thread::id commit_thread;
  refl.set_sink({[&] {
                   std::lock_guard lk(mu);
                   calls.push_back("begin");
                   staged.clear();
                 },
                 [&](std::vector<json>&& items) {
                   std::lock_guard lk(mu);
                   calls.push_back("page " + std::to_string(items.size()));
                   page_threads.insert(std::this_thread::get_id());
                   for (auto& i : items) staged.push_back(i["metadata"]["name"].get<std::string>());
                 },
                 [&] {
                   std::lock_guard lk(mu);
                   calls.push_back("commit");
                   commit_thread = std::this_thread::get_id();
                   committed = staged;
                 },
                 [&](const std::string& type, json&& o) {
                   std::lock_guard lk(mu);
                   events.push_back(type + ":" + o["metadata"]["name"].get<std::string>());
                 }});
  refl.start();
  REQUIRE(eventually([&] { return refl.synced(); }));
  {
    std::lock_guard lk(mu);
    CHECK(calls == std::vector<std::string>{"begin", "page 5", "page 5", "page 2", "commit"});
    CHECK(committed.size() == 12);
    REQUIRE(page_threads.size() == 1);
    CHECK(*page_threads.begin() != commit_thread);  // pages converted beside the fetching thread
    CHECK(refl.snapshot()->empty());                // a sink keeps its own form
  }
  REQUIRE(kubectl("apply -f -", policy_yaml(ns, "later")) == 0);
  CHECK(eventually([&] {
    std::lock_guard lk(mu);
    return events == std::vector<std::string>{"ADDED:later"};
  }));
  refl.stop();
  kubectl("delete namespace " + ns + " --wait=false");
}

TEST_CASE("reflector: reports errors and recovers when access is granted") {
  const std::string ns = unique("lg-rbac");
  REQUIRE(kubectl("create namespace " + ns) == 0);
  auto cfg = loki::load_cluster_config({env("LOKI_RESTRICTED_KUBECONFIG"), ""});
  loki::Reflector refl(cfg, loki::resources::networkpolicies, ns);
  refl.start();
  CHECK(eventually([&] { return !refl.last_error().empty(); }));
  CHECK(refl.last_error().find("forbidden") != std::string::npos);
  CHECK_FALSE(refl.synced());
  REQUIRE(kubectl("create role np-reader -n " + ns + " --verb=get,list,watch --resource=networkpolicies") == 0);
  REQUIRE(kubectl("create rolebinding np-reader -n " + ns + " --role=np-reader --user=restricted") == 0);
  CHECK(eventually([&] { return refl.synced(); }, 45s));  // after the backoff
  refl.stop();
  kubectl("delete namespace " + ns + " --wait=false");
}

TEST_CASE("a rotated token file is re-read") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / unique("lg-token");
  fs::create_directories(dir);
  auto write = [&](const std::string& t) {
    std::ofstream(dir / "token.tmp") << t;
    fs::rename(dir / "token.tmp", dir / "token");  // atomic, like the kubelet's projected volume
  };
  write(env("RESTRICTED_TOKEN"));
  loki::ClusterConfig cfg = admin();
  cfg.client_cert_pem.clear();
  cfg.client_key_pem.clear();
  cfg.token.clear();
  cfg.token_file = (dir / "token").string();
  loki::KubeClient c(cfg);
  CHECK_THROWS_WITH_AS(c.list(loki::resources::networkpolicies, "default"), doctest::Contains("forbidden"),
                       loki::KubeError);
  std::this_thread::sleep_for(20ms);  // a distinct mtime
  write(env("ADMIN_TOKEN"));
  CHECK_NOTHROW(c.list(loki::resources::networkpolicies, "default"));
  fs::remove_all(dir);
}
