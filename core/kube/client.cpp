#include <loki/json_access.hpp>
#include <loki/kube_client.hpp>
#include <loki/manifest.hpp>
#include <loki/workload_kinds.hpp>

#include "exec_credential.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <condition_variable>
#include <deque>
#include <exception>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

namespace loki {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string ResourceType::collection_path(const std::string& ns) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
  return p + "/" + resource;
}

namespace {
// The API coordinates of a kind in the workload table.
ResourceType workload_resource(std::string_view kind) {
  const WorkloadKind* k = find_workload_kind(kind);
  return {std::string(k->group), std::string(k->version), std::string(k->plural), std::string(k->kind), true};
}
}  // namespace

namespace resources {
const ResourceType pods = workload_resource("Pod");
const ResourceType namespaces{"", "v1", "namespaces", "Namespace", false};
const ResourceType serviceaccounts{"", "v1", "serviceaccounts", "ServiceAccount", true};
const ResourceType networkpolicies{"networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true};
const ResourceType deployments = workload_resource("Deployment");
const ResourceType replicasets = workload_resource("ReplicaSet");
const ResourceType statefulsets = workload_resource("StatefulSet");
const ResourceType daemonsets = workload_resource("DaemonSet");
const ResourceType jobs = workload_resource("Job");
const ResourceType cronjobs = workload_resource("CronJob");
const ResourceType replicationcontrollers = workload_resource("ReplicationController");
const ResourceType ciliumnetworkpolicies{"cilium.io", "v2", "ciliumnetworkpolicies", "CiliumNetworkPolicy", true};
const ResourceType clusternetworkpolicies{"policy.networking.k8s.io", "v1beta1", "clusternetworkpolicies",
                                          "ClusterNetworkPolicy", false};
const ResourceType clusternetworkpolicies_v1alpha2{"policy.networking.k8s.io", "v1alpha2", "clusternetworkpolicies",
                                                   "ClusterNetworkPolicy", false};
const ResourceType adminnetworkpolicies{"policy.networking.k8s.io", "v1alpha1", "adminnetworkpolicies",
                                        "AdminNetworkPolicy", false};
const ResourceType baselineadminnetworkpolicies{"policy.networking.k8s.io", "v1alpha1", "baselineadminnetworkpolicies",
                                                "BaselineAdminNetworkPolicy", false};
}  // namespace resources

const ResourceType* resource_for_kind(std::string_view kind) {
  static const std::vector<ResourceType> all = [] {
    std::vector<ResourceType> v{resources::namespaces,
                                resources::networkpolicies,
                                resources::ciliumnetworkpolicies,
                                resources::clusternetworkpolicies,
                                resources::adminnetworkpolicies,
                                resources::baselineadminnetworkpolicies};
    for (const WorkloadKind& k : workload_kinds()) v.push_back(workload_resource(k.kind));
    return v;
  }();
  for (const ResourceType& rt : all)
    if (rt.kind == kind) return &rt;
  return nullptr;
}

std::vector<ResourceType> listed_workload_resources(Listing which) {
  std::vector<ResourceType> out;
  for (const WorkloadKind& k : workload_kinds())
    if (k.listing == which) out.push_back(workload_resource(k.kind));
  return out;
}

namespace {

bool is_ip(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// The verb and resource a path asks for, for 403 messages.
struct Intent {
  std::string verb = "get";
  std::string resource;
  std::string group;
  std::string ns;
};

Intent intent_of(const std::string& path) {
  Intent in;
  std::string p = path.substr(0, path.find('?'));
  std::vector<std::string> parts;
  std::stringstream ss(p);
  for (std::string s; std::getline(ss, s, '/');)
    if (!s.empty()) parts.push_back(s);
  std::size_t i = 0;
  if (i < parts.size() && parts[i] == "api") {
    i += 2;
  } else if (i < parts.size() && parts[i] == "apis") {
    if (i + 1 < parts.size()) in.group = parts[i + 1];
    i += 3;
  }
  if (i + 1 < parts.size() && parts[i] == "namespaces" && i + 2 < parts.size()) {
    in.ns = parts[i + 1];
    i += 2;
  }
  if (i < parts.size()) in.resource = parts[i];
  bool named = i + 1 < parts.size();
  if (path.find("watch=1") != std::string::npos)
    in.verb = "watch";
  else if (!named && !in.resource.empty())
    in.verb = "list";
  if (in.resource == "namespaces" && named && in.ns.empty()) {
    in.ns = parts[i + 1];
    in.verb = "get";
  }
  return in;
}

// The RBAC verb of a write, for 403 messages (an apply patch needs patch, and create when the object is new).
std::string verb_name(http::verb method, const std::string& path) {
  switch (method) {
    case http::verb::post:
      return "create";
    case http::verb::put:
      return "update";
    case http::verb::patch:
      return path.find("fieldManager=") != std::string::npos ? "patch (and create)" : "patch";
    case http::verb::delete_:
      return "delete";
    default:
      return "get";
  }
}

std::string status_message(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    auto m = j.find("message");
    if (m != j.end() && m->is_string()) return m->get<std::string>();
  }
  std::string b = body.substr(0, 300);
  while (!b.empty() && std::isspace(static_cast<unsigned char>(b.back()))) b.pop_back();
  return b;
}

// The machine-readable reason of a Status body: its first cause's (details.causes[].reason, e.g.
// NamespaceTerminating on a 403), else its own (Forbidden, NotFound, AlreadyExists, ...).
std::string status_reason(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (!j.is_object()) return {};
  if (auto d = j.find("details"); d != j.end() && d->is_object())
    if (auto c = d->find("causes"); c != d->end() && c->is_array())
      for (const auto& cause : *c)
        if (cause.is_object() && cause.contains("reason") && cause["reason"].is_string())
          return cause["reason"].get<std::string>();
  if (auto r = j.find("reason"); r != j.end() && r->is_string()) return r->get<std::string>();
  return {};
}

}  // namespace

struct KubeClient::Impl {
  explicit Impl(ClusterConfig& c) : cfg(c) {}

  ClusterConfig& cfg;
  asio::io_context ioc;
  std::unique_ptr<ssl::context> ctx;
  std::unique_ptr<ssl::stream<beast::tcp_stream>> tls;
  std::unique_ptr<beast::tcp_stream> plain;
  beast::flat_buffer buffer;
  bool connected = false;
  std::mutex mu;
  Stats stats;

  // Credentials
  std::optional<ExecCredential> exec_cred;
  std::string file_token;
  struct timespec file_token_mtime {};

  std::string who() const {
    std::string u = cfg.user_name.empty() ? std::string("(no user)") : "\"" + cfg.user_name + "\"";
    return "user " + u + " of context \"" + cfg.context + "\"";
  }

  void ensure_exec_credential(bool force) {
    if (!cfg.exec) return;
    if (!force && exec_cred && !exec_cred->expired()) return;
    exec_cred = run_exec_plugin(*cfg.exec, cfg);
    ++stats.exec_runs;
    if (!exec_cred->client_cert_pem.empty()) drop_connection(true);  // new client cert: new TLS context
  }

  std::string bearer_token() {
    if (exec_cred && !exec_cred->token.empty()) return exec_cred->token;
    if (!cfg.token_file.empty()) {
      // Re-read a rotated token (projected ServiceAccount tokens rotate hourly).
      struct stat st {};
      if (::stat(cfg.token_file.c_str(), &st) == 0 &&
          (st.st_mtim.tv_sec != file_token_mtime.tv_sec || st.st_mtim.tv_nsec != file_token_mtime.tv_nsec ||
           file_token.empty())) {
        try {
          file_token = read_input(cfg.token_file);
        } catch (const std::exception& e) {
          throw KubeError("cannot read token file " + cfg.token_file + ": " + e.what());
        }
        while (!file_token.empty() && std::isspace(static_cast<unsigned char>(file_token.back())))
          file_token.pop_back();
        file_token_mtime = st.st_mtim;
      }
      if (!file_token.empty()) return file_token;
    }
    return cfg.token;
  }

  void build_context() {
    ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    if (cfg.insecure_skip_tls_verify) {
      ctx->set_verify_mode(ssl::verify_none);
    } else {
      ctx->set_verify_mode(ssl::verify_peer);
      boost::system::error_code ec;
      if (!cfg.ca_pem.empty()) {
        ctx->add_certificate_authority(asio::buffer(cfg.ca_pem), ec);
        if (ec) throw KubeError("certificate authority from " + cfg.ca_source + " is not a valid PEM certificate");
      } else {
        ctx->set_default_verify_paths(ec);
      }
    }
    const std::string& cert =
        exec_cred && !exec_cred->client_cert_pem.empty() ? exec_cred->client_cert_pem : cfg.client_cert_pem;
    const std::string& key =
        exec_cred && !exec_cred->client_key_pem.empty() ? exec_cred->client_key_pem : cfg.client_key_pem;
    if (!cert.empty()) {
      boost::system::error_code ec;
      ctx->use_certificate_chain(asio::buffer(cert), ec);
      if (ec) throw KubeError("client certificate of " + who() + " is not a valid PEM certificate");
      ctx->use_private_key(asio::buffer(key), ssl::context::pem, ec);
      if (ec) throw KubeError("client key of " + who() + " is not a valid PEM key, or does not match its certificate");
    }
  }

  void drop_connection(bool rebuild_context = false) {
    boost::system::error_code ec;
    if (tls) beast::get_lowest_layer(*tls).socket().close(ec);
    if (plain) plain->socket().close(ec);
    tls.reset();
    plain.reset();
    connected = false;
    buffer.clear();
    if (rebuild_context) ctx.reset();
  }

  // Runs the io_context until `done`, cancelling the socket at the deadline
  // or when `stop` is set (both are then reported as timeouts).
  void run_until(const bool& done, Clock::time_point deadline, const std::atomic<bool>* stop, bool& timed_out) {
    ioc.restart();
    while (!done) {
      auto now = Clock::now();
      if (now >= deadline || (stop && stop->load())) {
        timed_out = true;
        boost::system::error_code ec;
        if (tls) beast::get_lowest_layer(*tls).socket().cancel(ec);
        if (plain) plain->socket().cancel(ec);
        ioc.restart();
        while (!done) ioc.run_one_for(std::chrono::milliseconds(200));
        return;
      }
      auto slice = std::min<Clock::duration>(deadline - now, std::chrono::milliseconds(200));
      ioc.run_one_for(slice);
    }
  }

  std::string where() const { return cfg.server; }

  void connect(Clock::time_point deadline) {
    if (connected) return;
    if (cfg.tls && !ctx) build_context();
    tcp::resolver resolver(ioc);
    boost::system::error_code ec;
    auto endpoints = resolver.resolve(cfg.host, cfg.port, ec);
    if (ec) throw KubeError("cannot resolve API server host \"" + cfg.host + "\" (" + where() + "): " + ec.message());
    ++stats.connections;
    bool done = false;
    bool timed_out = false;
    beast::tcp_stream* lowest;
    if (cfg.tls) {
      tls = std::make_unique<ssl::stream<beast::tcp_stream>>(ioc, *ctx);
      lowest = &beast::get_lowest_layer(*tls);
    } else {
      plain = std::make_unique<beast::tcp_stream>(ioc);
      lowest = plain.get();
    }
    lowest->async_connect(endpoints, [&](boost::system::error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    run_until(done, deadline, nullptr, timed_out);
    if (timed_out) throw KubeError("timed out connecting to the API server at " + where());
    if (ec) {
      drop_connection();
      throw KubeError("cannot connect to the API server at " + where() + ": " + ec.message() +
                      (ec == asio::error::connection_refused ? " (is it running? is the address right?)" : ""));
    }
    if (!cfg.tls) {
      connected = true;
      return;
    }
    SSL* ssl_handle = tls->native_handle();
    const std::string name = cfg.tls_server_name.empty() ? cfg.host : cfg.tls_server_name;
    if (!cfg.insecure_skip_tls_verify) {
      // Verify the certificate names the server: by IP SAN for an address,
      // by DNS SAN otherwise (as Go's crypto/tls does).
      if (is_ip(name))
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), name.c_str());
      else
        SSL_set1_host(ssl_handle, name.c_str());
    }
    if (!is_ip(name)) SSL_set_tlsext_host_name(ssl_handle, name.c_str());
    done = false;
    tls->async_handshake(ssl::stream_base::client, [&](boost::system::error_code e) {
      ec = e;
      done = true;
    });
    run_until(done, deadline, nullptr, timed_out);
    if (timed_out) {
      drop_connection();
      throw KubeError("timed out in the TLS handshake with the API server at " + where());
    }
    if (ec) {
      long vr = SSL_get_verify_result(ssl_handle);
      std::string msg = "TLS handshake with the API server at " + where() + " failed: ";
      if (vr != X509_V_OK) {
        msg += X509_verify_cert_error_string(vr);
        switch (vr) {
          case X509_V_ERR_HOSTNAME_MISMATCH:
          case X509_V_ERR_IP_ADDRESS_MISMATCH:
            msg += " (the server's certificate is not valid for \"" + name +
                   "\"; fix the server address or set tls-server-name in the kubeconfig)";
            break;
          case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
          case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
          case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
          case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            msg += " (certificate signed by unknown authority: it is not signed by the CA from " +
                   (cfg.ca_source.empty() ? std::string("the system trust store") : cfg.ca_source) + ")";
            break;
          case X509_V_ERR_CERT_HAS_EXPIRED:
            msg += " (the server's certificate has expired)";
            break;
          default:
            break;
        }
      } else {
        msg += ec.message();
        if (ec.message().find("wrong version number") != std::string::npos)
          msg += " (is the server plain HTTP? use an http:// server URL)";
        if (ec.message().find("certificate") != std::string::npos || ec.message().find("alert") != std::string::npos)
          msg += " (the server rejected our client certificate?)";
      }
      drop_connection();
      throw KubeError(msg);
    }
    connected = true;
  }

  template <class Request>
  void write(Request& req, Clock::time_point deadline, const std::atomic<bool>* stop) {
    bool done = false, timed_out = false;
    boost::system::error_code ec;
    auto handler = [&](boost::system::error_code e, std::size_t) {
      ec = e;
      done = true;
    };
    if (tls)
      http::async_write(*tls, req, handler);
    else
      http::async_write(*plain, req, handler);
    run_until(done, deadline, stop, timed_out);
    if (timed_out) throw KubeError("timed out sending a request to " + where());
    if (ec) throw beast::system_error(ec);
  }

  // header: up to the end of the headers; some: whatever arrives (streamed
  // watch bodies); all: the whole message.
  enum class ReadMode { header, some, all };
  template <class Parser>
  boost::system::error_code read_some(Parser& p, ReadMode mode, Clock::time_point deadline,
                                      const std::atomic<bool>* stop, bool& timed_out) {
    bool done = false;
    boost::system::error_code ec;
    auto handler = [&](boost::system::error_code e, std::size_t) {
      ec = e;
      done = true;
    };
    if (tls) {
      if (mode == ReadMode::header)
        http::async_read_header(*tls, buffer, p, handler);
      else if (mode == ReadMode::some)
        http::async_read_some(*tls, buffer, p, handler);
      else
        http::async_read(*tls, buffer, p, handler);
    } else {
      if (mode == ReadMode::header)
        http::async_read_header(*plain, buffer, p, handler);
      else if (mode == ReadMode::some)
        http::async_read_some(*plain, buffer, p, handler);
      else
        http::async_read(*plain, buffer, p, handler);
    }
    run_until(done, deadline, stop, timed_out);
    return ec;
  }

  template <class Body = http::empty_body>
  http::request<Body> make_request(const std::string& target, http::verb method = http::verb::get) {
    http::request<Body> req{method, cfg.base_path + target, 11};
    req.set(http::field::host, cfg.host);
    req.set(http::field::user_agent, std::string("loki-guard/") + LOKI_VERSION);
    req.set(http::field::accept, "application/json");
    std::string token = bearer_token();
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    return req;
  }

  KubeError http_error(unsigned status, const std::string& path, const std::string& body,
                       http::verb method = http::verb::get) {
    std::string msg = status_message(body);
    Intent in = intent_of(path);
    if (method != http::verb::get) in.verb = verb_name(method, path);
    if (status == 401)
      return KubeError("the API server at " + where() + " rejected the credentials of " + who() +
                           " (401 Unauthorized): the token or client certificate from " + cfg.source +
                           " is wrong or expired",
                       401);
    std::string reason = status_reason(body);
    // The namespace lifecycle admission plugin refuses new objects in a namespace being deleted with a 403
    // whose cause is NamespaceTerminating: no RBAC rule would help.
    if (status == 403 && reason == "NamespaceTerminating")
      return KubeError(
          "namespace \"" + in.ns + "\" is being deleted: the API server accepts no new objects in it (" + msg + ")",
          403, reason);
    if (status == 403) {
      std::string rule = "  - apiGroups: [\"" + in.group + "\"]\n    resources: [\"" + in.resource +
                         "\"]\n    verbs: [\"" + in.verb + "\"]";
      const bool cluster_scoped = in.resource == "namespaces" || in.ns.empty();
      return KubeError("forbidden (403): " + msg + "\n" + who() + " needs " +
                           (cluster_scoped ? std::string("a ClusterRole (and ClusterRoleBinding)")
                                           : "a Role (and RoleBinding) in namespace " + in.ns) +
                           " with:\n" + rule,
                       403, reason);
    }
    if (status == 404 && in.resource == "namespaces" && !in.ns.empty())
      return KubeError("namespace \"" + in.ns + "\" not found on " + where(), 404, reason);
    return KubeError("API server " + where() + " answered " + std::to_string(status) + " to " +
                         std::string(http::to_string(method)) + " " + path + ": " + msg,
                     static_cast<int>(status), reason);
  }

  // One GET with a whole body. Retries once on a stale keep-alive connection
  // and once after refreshing exec credentials on 401.
  json get(const std::string& path, int timeout_seconds = 60) {
    return call(http::verb::get, path, nullptr, {}, timeout_seconds);
  }

  // Any verb; `body` (with its content type) for POST/PUT/PATCH. A write is
  // retried on a stale keep-alive connection only when the request could not
  // have reached the server (nothing was read back).
  json call(http::verb method, const std::string& path, const std::string* body, const std::string& content_type,
            int timeout_seconds = 60) {
    std::lock_guard lk(mu);
    for (int attempt = 0;; ++attempt) {
      ensure_exec_credential(false);
      auto deadline = Clock::now() + std::chrono::seconds(timeout_seconds);
      bool reused = connected;
      try {
        connect(deadline);
        auto req = make_request<http::string_body>(path, method);
        if (body) {
          req.set(http::field::content_type, content_type);
          req.body() = *body;
          req.prepare_payload();
        }
        req.keep_alive(true);
        ++stats.requests;
        write(req, deadline, nullptr);
        http::response_parser<http::string_body> p;
        p.body_limit(512ull * 1024 * 1024);
        bool timed_out = false;
        auto ec = read_some(p, ReadMode::all, deadline, nullptr, timed_out);
        if (timed_out) {
          drop_connection();
          throw KubeError("timed out waiting for the API server at " + where() + " (GET " + path + ")");
        }
        if (ec) throw beast::system_error(ec);
        auto& res = p.get();
        if (!res.keep_alive()) drop_connection();
        unsigned status = res.result_int();
        if (status == 401 && cfg.exec && attempt == 0) {
          ensure_exec_credential(true);
          continue;
        }
        if (status < 200 || status >= 300) throw http_error(status, path, res.body(), method);
        auto j = json::parse(res.body(), nullptr, false);
        if (j.is_discarded()) throw KubeError("API server " + where() + " sent a body that is not JSON for " + path);
        return j;
      } catch (const beast::system_error& e) {
        drop_connection();
        if (reused && attempt == 0) continue;  // the server closed an idle connection
        throw KubeError("connection to the API server at " + where() + " failed: " + e.code().message());
      }
    }
  }
};

KubeClient::KubeClient(ClusterConfig cfg) : cfg_(std::move(cfg)), impl_(std::make_unique<Impl>(cfg_)) {}
KubeClient::~KubeClient() = default;

KubeClient::Stats KubeClient::stats() const {
  std::lock_guard lk(impl_->mu);
  return impl_->stats;
}

json KubeClient::get(const std::string& path) {
  return impl_->get(path);
}

ListResult KubeClient::list(const ResourceType& rt, const std::string& ns, std::size_t chunk_size,
                            const std::string& label_selector) {
  ListResult out;
  ListResult r = list_pages(
      rt, ns, chunk_size,
      [&](std::vector<json>&& items) {
        if (out.items.empty()) {
          out.items = std::move(items);
        } else {
          out.items.reserve(out.items.size() + items.size());
          for (auto& item : items) out.items.push_back(std::move(item));
        }
      },
      [&] { out.items.clear(); }, label_selector);
  r.items = std::move(out.items);
  return r;
}

ListResult KubeClient::list_pages(const ResourceType& rt, const std::string& ns, std::size_t chunk_size,
                                  const std::function<void(std::vector<json>&&)>& page,
                                  const std::function<void()>& restart, const std::string& label_selector) {
  ListResult out;
  std::string cont;
  const std::string base = rt.collection_path(ns);
  while (true) {
    std::string q = "?limit=" + std::to_string(chunk_size);
    if (!cont.empty()) q += "&continue=" + url_encode(cont);
    if (!label_selector.empty()) q += "&labelSelector=" + url_encode(label_selector);
    json body;
    try {
      body = impl_->get(base + q);
    } catch (const KubeError& e) {
      if (e.status == 410 && !cont.empty()) {
        // The continue token expired (compaction): list again from the start,
        // as client-go's pager does.
        cont.clear();
        ++out.restarts;
        if (restart) restart();
        continue;
      }
      throw;
    }
    ++out.pages;
    std::vector<json> items;
    if (auto it = body.find("items"); it != body.end() && it->is_array()) {
      items.reserve(it->size());
      for (auto& item : *it) {
        // List items carry no apiVersion/kind: fill them in so they are objects.
        item["apiVersion"] = rt.group_version();
        item["kind"] = rt.kind;
        items.push_back(std::move(item));
      }
    }
    const json& md = mapping_field(body, "metadata");
    out.resourceVersion = md.value("resourceVersion", "");
    cont = md.value("continue", "");
    page(std::move(items));
    if (cont.empty()) break;
  }
  return out;
}

json KubeClient::create(const std::string& path, const json& object) {
  const std::string body = object.dump();
  return impl_->call(http::verb::post, path, &body, "application/json");
}

json KubeClient::update(const std::string& path, const json& object) {
  const std::string body = object.dump();
  return impl_->call(http::verb::put, path, &body, "application/json");
}

json KubeClient::apply(const std::string& path, const json& object, const std::string& field_manager, bool force) {
  // JSON is YAML: the apply content type takes the object as it is.
  const std::string body = object.dump();
  std::string q = (path.find('?') == std::string::npos ? "?" : "&") + std::string("fieldManager=") +
                  url_encode(field_manager) + (force ? "&force=true" : "");
  return impl_->call(http::verb::patch, path + q, &body, "application/apply-patch+yaml");
}

json KubeClient::remove(const std::string& path) {
  return impl_->call(http::verb::delete_, path, nullptr, {});
}

bool KubeClient::serves(const ResourceType& rt) {
  json doc;
  try {
    doc = impl_->get(rt.group.empty() ? "/api/" + rt.version : "/apis/" + rt.group + "/" + rt.version);
  } catch (const KubeError& e) {
    if (e.status == 404) return false;
    throw;
  }
  if (auto res = doc.find("resources"); res != doc.end() && res->is_array())
    for (const auto& r : *res)
      if (r.value("name", "") == rt.resource) return true;
  return false;
}

void KubeClient::require_namespace(const std::string& ns) {
  try {
    impl_->get("/api/v1/namespaces/" + url_encode(ns));
  } catch (const KubeError& e) {
    if (e.status != 403) throw;  // may not read namespaces: the lists will tell
  }
}

void KubeClient::watch(const ResourceType& rt, const std::string& ns, const std::string& resource_version,
                       const std::function<bool(WatchEvent&&)>& fn, int timeout_seconds,
                       const std::atomic<bool>* stop) {
  Impl& im = *impl_;
  std::lock_guard lk(im.mu);
  im.ensure_exec_credential(false);
  std::string path = rt.collection_path(ns) +
                     "?watch=1&allowWatchBookmarks=true&resourceVersion=" + url_encode(resource_version) +
                     "&timeoutSeconds=" + std::to_string(timeout_seconds);
  // The server ends the watch after timeoutSeconds; allow some slack.
  auto deadline = Clock::now() + std::chrono::seconds(timeout_seconds + 15);
  try {
    im.connect(deadline);
    auto req = im.make_request(path);
    req.keep_alive(false);
    ++im.stats.requests;
    im.write(req, deadline, stop);
    http::response_parser<http::buffer_body> p;
    p.body_limit(boost::none);
    bool timed_out = false;
    auto ec = im.read_some(p, Impl::ReadMode::header, deadline, stop, timed_out);
    if (timed_out) {
      im.drop_connection();
      return;
    }
    if (ec) throw beast::system_error(ec);
    unsigned status = p.get().result_int();
    if (status != 200) {
      // Read the (small) error body.
      std::string body;
      char chunk[8192];
      while (!p.is_done()) {
        p.get().body().data = chunk;
        p.get().body().size = sizeof chunk;
        ec = im.read_some(p, Impl::ReadMode::some, deadline, stop, timed_out);
        body.append(chunk, sizeof chunk - p.get().body().size);
        if (ec && ec != http::error::need_buffer) break;
        if (timed_out || body.size() > 65536) break;
      }
      im.drop_connection();
      throw im.http_error(status, path, body);
    }
    std::string pending;
    char chunk[65536];
    while (!p.is_done()) {
      p.get().body().data = chunk;
      p.get().body().size = sizeof chunk;
      ec = im.read_some(p, Impl::ReadMode::some, deadline, stop, timed_out);
      pending.append(chunk, sizeof chunk - p.get().body().size);
      for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
        std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        if (line.empty()) continue;
        auto ev = json::parse(line, nullptr, false);
        if (!ev.is_object()) continue;
        WatchEvent we{ev.value("type", ""), std::move(ev["object"])};
        if (we.type == "ERROR") {
          int code = we.object.is_object() ? we.object.value("code", 0) : 0;
          im.drop_connection();
          throw KubeError("watch of " + rt.display() + " failed: " + we.object.value("message", std::string("error")),
                          code);
        }
        if (!fn(std::move(we))) {
          im.drop_connection();
          return;
        }
      }
      if (timed_out) break;
      if (ec == http::error::need_buffer) continue;
      if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == ssl::error::stream_truncated) break;
      if (ec) throw beast::system_error(ec);
    }
    im.drop_connection();
  } catch (const beast::system_error& e) {
    im.drop_connection();
    throw KubeError("watch of " + rt.display() + " on " + im.where() + " dropped: " + e.code().message());
  }
}

// ---- Reflector ---------------------------------------------------------------

namespace {

// Runs a sink's begin/page calls on a helper thread, in order, so one page is
// converted while the next is fetched. At most `depth` pages wait: the
// fetcher blocks rather than holding the whole list as JSON.
class PagePipeline {
 public:
  PagePipeline(const Reflector::Sink& sink, std::size_t depth) : sink_(sink), depth_(depth) {
    thread_ = std::thread([this] { loop(); });
  }
  ~PagePipeline() { close(true); }  // a list that failed: its queued pages are dropped
  PagePipeline(const PagePipeline&) = delete;
  PagePipeline& operator=(const PagePipeline&) = delete;

  void begin() { push({true, {}}); }
  void page(std::vector<json>&& items) { push({false, std::move(items)}); }
  // Waits until the sink has every page; rethrows what it threw.
  void finish() {
    close(false);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  struct Task {
    bool begin = false;
    std::vector<json> items;
  };
  void push(Task&& t) {
    std::unique_lock lk(mu_);
    space_.wait(lk, [&] { return queue_.size() < depth_ || error_; });
    if (error_) return;  // finish() reports it
    queue_.push_back(std::move(t));
    ready_.notify_one();
  }
  void close(bool drop) {
    {
      std::lock_guard lk(mu_);
      if (drop) queue_.clear();
      closed_ = true;
    }
    ready_.notify_one();
    if (thread_.joinable()) thread_.join();
  }
  void loop() {
    std::unique_lock lk(mu_);
    while (true) {
      ready_.wait(lk, [&] { return !queue_.empty() || closed_; });
      if (queue_.empty()) return;  // closed, nothing left
      Task t = std::move(queue_.front());
      queue_.pop_front();
      space_.notify_one();
      lk.unlock();
      std::exception_ptr error;
      try {
        if (t.begin)
          sink_.begin();
        else
          sink_.page(std::move(t.items));
      } catch (...) {
        error = std::current_exception();
      }
      lk.lock();
      if (error && !error_) {
        error_ = error;
        queue_.clear();
        space_.notify_all();
      }
    }
  }

  const Reflector::Sink& sink_;
  const std::size_t depth_;
  std::mutex mu_;
  std::condition_variable ready_, space_;
  std::deque<Task> queue_;
  bool closed_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace

Reflector::Reflector(ClusterConfig cfg, ResourceType rt, std::string ns)
    : cfg_(std::move(cfg)), rt_(std::move(rt)), ns_(std::move(ns)), store_(std::make_shared<Store>()) {}

Reflector::~Reflector() {
  stop();
}

void Reflector::start() {
  if (thread_) return;
  thread_ = std::make_unique<std::thread>([this] { run(); });
}

void Reflector::stop() {
  stop_ = true;
  if (thread_ && thread_->joinable()) thread_->join();
  thread_.reset();
}

std::shared_ptr<const Reflector::Store> Reflector::snapshot() const {
  std::lock_guard lk(mu_);
  return store_;
}

Clock::time_point Reflector::last_event() const {
  std::lock_guard lk(mu_);
  return last_event_;
}

std::string Reflector::last_error() const {
  std::lock_guard lk(mu_);
  return last_error_;
}

namespace {
std::string key_of(const json& obj) {
  const json& md = mapping_field(obj, "metadata");
  return md.value("namespace", "") + "/" + md.value("name", "");
}
}  // namespace

void Reflector::replace_store(std::vector<json>&& items) {
  if (sink_.page) {
    if (sink_.begin) sink_.begin();
    sink_.page(std::move(items));
    committed();
    return;
  }
  auto store = std::make_shared<Store>();
  for (auto& item : items) {
    std::string key = key_of(item);  // before the move: json's operator= takes its argument by value
    (*store)[key] = std::move(item);
  }
  std::lock_guard lk(mu_);
  store_ = store;
  last_event_ = Clock::now();
  last_error_.clear();
}

void Reflector::committed() {
  if (sink_.commit) sink_.commit();
  std::lock_guard lk(mu_);
  last_event_ = Clock::now();
  last_error_.clear();
}

ListResult Reflector::list_into_sink(KubeClient& client, std::size_t& objects) {
  PagePipeline pipe(sink_, 2);
  if (sink_.begin) pipe.begin();
  objects = 0;
  ListResult lr = client.list_pages(
      rt_, ns_, page_size_,
      [&](std::vector<json>&& items) {
        objects += items.size();
        pipe.page(std::move(items));
      },
      [&] {
        objects = 0;
        if (sink_.begin) pipe.begin();
      });
  pipe.finish();
  committed();
  return lr;
}

void Reflector::replace(std::vector<json>&& items) {
  replace_store(std::move(items));
  if (on_change_) on_change_();
}

void Reflector::apply(const std::string& type, json&& object) {
  object["apiVersion"] = rt_.group_version();
  object["kind"] = rt_.kind;
  if (sink_.apply) {
    sink_.apply(type, std::move(object));
    std::lock_guard lk(mu_);
    last_event_ = Clock::now();
  } else {
    std::lock_guard lk(mu_);
    auto next = std::make_shared<Store>(*store_);
    std::string key = key_of(object);  // before the move (see replace_store)
    if (type == "DELETED")
      next->erase(key);
    else
      (*next)[key] = std::move(object);
    store_ = next;
    last_event_ = Clock::now();
  }
  if (on_change_) on_change_();
}

void Reflector::run() {
  std::mt19937 rng(std::random_device{}());
  auto backoff = std::chrono::milliseconds(500);
  const auto max_backoff = std::chrono::seconds(30);
  KubeClient client(cfg_);
  while (!stop_) {
    try {
      std::size_t objects = 0;
      ListResult lr;
      const bool relist = synced_;
      if (sink_.page) {
        lr = list_into_sink(client, objects);
      } else {
        lr = client.list(rt_, ns_, page_size_);
        objects = lr.items.size();
        replace_store(std::move(lr.items));
      }
      if (relist) ++relists_;
      synced_ = true;
      healthy_ = true;
      if (on_list_) on_list_(objects, relist);
      if (on_change_) on_change_();
      backoff = std::chrono::milliseconds(500);
      std::string rv = lr.resourceVersion;
      // Watch until the stream ends; continue from the last resourceVersion
      // seen (bookmarks keep it fresh), re-list only on 410 Gone or errors.
      while (!stop_) {
        client.watch(
            rt_, ns_, rv,
            [&](WatchEvent&& ev) {
              if (!ev.object.is_object()) return !stop_.load();  // nothing to apply
              if (auto v = mapping_field(ev.object, "metadata").value("resourceVersion", ""); !v.empty()) rv = v;
              if (ev.type == "BOOKMARK") {
                std::lock_guard lk(mu_);
                last_event_ = Clock::now();
                return !stop_.load();
              }
              apply(ev.type, std::move(ev.object));
              return !stop_.load();
            },
            60, &stop_);
        std::lock_guard lk(mu_);
        last_event_ = Clock::now();
      }
    } catch (const std::exception& e) {
      // Never let an exception end the thread: the cache must keep trying.
      healthy_ = false;
      const auto* ke = dynamic_cast<const KubeError*>(&e);
      {
        std::lock_guard lk(mu_);
        last_error_ = e.what();
      }
      ++errors_;
      if (ke && ke->status == 410) {  // too old: re-list at once
        ++expired_;
        if (on_error_) on_error_(e.what(), 410, std::chrono::milliseconds(0));
        continue;
      }
      auto jitter = std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 250)(rng));
      if (on_error_) on_error_(e.what(), ke ? ke->status : 0, backoff + jitter);
      auto until = Clock::now() + backoff + jitter;
      while (!stop_ && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, max_backoff);
    }
  }
  healthy_ = false;
}

}  // namespace loki
