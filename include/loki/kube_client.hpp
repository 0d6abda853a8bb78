// A Kubernetes API client on Boost.Beast + OpenSSL: authenticated GETs,
// paginated lists and watches, with errors a person can act on.
#pragma once

#include <loki/kubeconfig.hpp>
#include <loki/workload_kinds.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace loki {

struct ResourceType {
  std::string group;  // "" for the core group
  std::string version;
  std::string resource;  // plural, as in the URL
  std::string kind;
  bool namespaced = true;

  // /api/v1/namespaces/NS/pods or /apis/apps/v1/deployments (ns empty: all namespaces)
  std::string collection_path(const std::string& ns) const;
  std::string group_version() const { return group.empty() ? version : group + "/" + version; }
  std::string display() const { return group.empty() ? resource : resource + "." + group; }
};

namespace resources {
extern const ResourceType pods, namespaces, networkpolicies, deployments, replicasets, statefulsets, daemonsets, jobs,
    cronjobs, replicationcontrollers, ciliumnetworkpolicies, serviceaccounts;
// policy.networking.k8s.io (cluster-scoped): ClusterNetworkPolicy v1beta1 (network-policy-api v0.3.0's
// storage version) and v1alpha2 (v0.2.x), AdminNetworkPolicy and BaselineAdminNetworkPolicy v1alpha1 (v0.1.x).
extern const ResourceType clusternetworkpolicies, clusternetworkpolicies_v1alpha2, adminnetworkpolicies,
    baselineadminnetworkpolicies;
}  // namespace resources

// The resource type of a kind among the ones above and the workload kinds
// (include/loki/workload_kinds.hpp); nullptr for others.
const ResourceType* resource_for_kind(std::string_view kind);

// The workload kinds the cluster audit lists (controllers) always, or where
// the API serves them, in table order.
std::vector<ResourceType> listed_workload_resources(Listing which = Listing::always);

struct ListResult {
  std::vector<nlohmann::json> items;  // each with apiVersion and kind filled in
  std::string resourceVersion;
  std::size_t pages = 0;
  std::size_t restarts = 0;  // lists restarted after 410 Gone
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK
  nlohmann::json object;
};

class KubeClient {
 public:
  explicit KubeClient(ClusterConfig cfg);
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  const ClusterConfig& config() const { return cfg_; }

  // GET a path; the JSON body on 2xx, else a KubeError that says what went
  // wrong in terms of `verb` and `rt` (for 403 messages).
  nlohmann::json get(const std::string& path_and_query);

  // Writes, with the body as JSON; each returns the object the server sends
  // back and throws KubeError (status 404, 409 Conflict, ...) otherwise.
  nlohmann::json create(const std::string& path, const nlohmann::json& object);  // POST to the collection
  // PUT; with metadata.resourceVersion set, a concurrent change makes it fail with 409.
  nlohmann::json update(const std::string& path, const nlohmann::json& object);
  // Server-side apply (PATCH application/apply-patch+yaml): creates or
  // updates the fields `field_manager` owns; force takes over conflicting fields.
  nlohmann::json apply(const std::string& path, const nlohmann::json& object, const std::string& field_manager,
                       bool force = true);
  nlohmann::json remove(const std::string& path);  // DELETE

  // Lists every object of a type (ns empty: all namespaces) in pages of
  // `chunk_size` (limit + continue); a 410 Gone restarts the list.
  ListResult list(const ResourceType& rt, const std::string& ns, std::size_t chunk_size = 500,
                  const std::string& label_selector = "");
  // The same list, one page at a time: `page` gets each page's items as it
  // arrives (the next page is requested once it returns) and `restart` is
  // called when a 410 Gone restarts the list, so the pages given so far are
  // void. The result's items stay empty.
  ListResult list_pages(const ResourceType& rt, const std::string& ns, std::size_t chunk_size,
                        const std::function<void(std::vector<nlohmann::json>&&)>& page,
                        const std::function<void()>& restart, const std::string& label_selector = "");

  // Whether the API server serves a resource type (discovery); false for an
  // absent CRD such as ciliumnetworkpolicies.
  bool serves(const ResourceType& rt);

  // Throws KubeError(404) naming the namespace when it does not exist.
  void require_namespace(const std::string& ns);

  // Watches from `resource_version` until the server closes the stream, the
  // timeout passes, `fn` returns false, or `stop` is set. Throws KubeError
  // with status 410 when the resourceVersion is too old (re-list then).
  void watch(const ResourceType& rt, const std::string& ns, const std::string& resource_version,
             const std::function<bool(WatchEvent&&)>& fn, int timeout_seconds, const std::atomic<bool>* stop = nullptr);

  struct Stats {
    std::size_t requests = 0;
    std::size_t connections = 0;
    std::size_t exec_runs = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  ClusterConfig cfg_;
  std::unique_ptr<Impl> impl_;
};

// Keeps a local copy of one resource type, as client-go's reflector: list,
// then watch from the list's resourceVersion (with bookmarks); re-list on 410
// Gone or a dropped stream, with capped exponential backoff on errors.
class Reflector {
 public:
  using Store = std::map<std::string, nlohmann::json>;  // "namespace/name" -> object
  Reflector(ClusterConfig cfg, ResourceType rt, std::string ns = "");
  ~Reflector();

  void start();  // runs in its own thread
  void stop();

  bool synced() const { return synced_.load(); }
  bool healthy() const { return healthy_.load(); }  // watching, not in backoff
  std::shared_ptr<const Store> snapshot() const;
  std::chrono::steady_clock::time_point last_event() const;
  std::size_t relists() const { return relists_.load(); }
  std::size_t expired() const { return expired_.load(); }      // 410 Gone: resourceVersion too old
  std::size_t watch_errors() const { return errors_.load(); }  // lists/watches that failed (incl. 410)
  std::string last_error() const;
  const ResourceType& type() const { return rt_; }
  // Called (from the reflector's thread) after every change to the store.
  void on_change(std::function<void()> fn) { on_change_ = std::move(fn); }
  // Called (from the reflector's thread) when a list or watch fails: the message, the HTTP status (0 for a
  // transport error) and how long the reflector waits before it lists again (0 after 410 Gone).
  using ErrorFn = std::function<void(const std::string&, int, std::chrono::milliseconds)>;
  void on_error(ErrorFn fn) { on_error_ = std::move(fn); }
  // Called after every list that replaced the store: the object count and whether it was a re-list.
  void on_list(std::function<void(std::size_t, bool)> fn) { on_list_ = std::move(fn); }

  // A consumer that keeps its own form of the objects instead of the JSON
  // store (snapshot() then stays empty): the webhook's cache keeps only what
  // its decisions read. Set before start(). A list arrives as begin(), then
  // page() for each page in order, then commit(), which replaces the whole
  // set; begin() again voids the pages given so far (the list restarted or
  // failed). While listing, run() calls begin/page on a helper thread, so a
  // page is converted while the next one is fetched and at most a few pages
  // of JSON are held at once; commit and apply come from the reflector's
  // thread, after the helper is done.
  struct Sink {
    std::function<void()> begin;
    std::function<void(std::vector<nlohmann::json>&&)> page;
    std::function<void()> commit;
    std::function<void(const std::string& type, nlohmann::json&&)> apply;  // a watch event
  };
  void set_sink(Sink sink) { sink_ = std::move(sink); }
  const Sink& sink() const { return sink_; }  // to feed a list page by page without an API server (tests)
  // Objects per page of a list (limit); client-go's default is 500.
  void set_page_size(std::size_t n) { page_size_ = n; }

  // The store code run() applies a list and each watch event with (public so a
  // benchmark can fill a cache exactly as a watch does, without an API server).
  // Both call on_change afterwards.
  void replace(std::vector<nlohmann::json>&& items);
  void apply(const std::string& type, nlohmann::json&& object);  // ADDED, MODIFIED, DELETED

 private:
  void run();
  void replace_store(std::vector<nlohmann::json>&& items);
  ListResult list_into_sink(KubeClient& client, std::size_t& objects);  // pages through a helper thread
  void committed();                                                     // a list is in the sink
  ClusterConfig cfg_;
  ResourceType rt_;
  std::string ns_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> synced_{false};
  std::atomic<bool> healthy_{false};
  std::atomic<std::size_t> relists_{0}, expired_{0}, errors_{0};
  mutable std::mutex mu_;
  std::shared_ptr<const Store> store_;
  std::chrono::steady_clock::time_point last_event_{};
  std::string last_error_;
  std::function<void()> on_change_;
  ErrorFn on_error_;
  std::function<void(std::size_t, bool)> on_list_;
  Sink sink_;
  std::size_t page_size_ = 500;
  std::unique_ptr<std::thread> thread_;
};

}  // namespace loki
