// The NetworkPolicy engine: which policies select a pod, whether it is
// isolated per direction, what its egress may reach, and why. Semantics of
// networking.k8s.io/v1 NetworkPolicy
// (https://kubernetes.io/docs/concepts/services-networking/network-policies/),
// plus CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy (cilium.io/v2)
// egress, which take part in isolation the same way (Cilium enforces both
// kinds; what a pod may reach is the union of every selecting policy).
// Pure functions, no I/O.
#pragma once

#include <loki/config.hpp>
#include <loki/finding.hpp>
#include <loki/ignore.hpp>
#include <loki/interned.hpp>
#include <loki/manifest.hpp>
#include <loki/selector.hpp>

#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <forward_list>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace loki::netpol {

// ---- addresses ---------------------------------------------------------------

enum class Protocol : std::uint8_t { TCP, UDP, SCTP };
std::string_view to_string(Protocol p);
// "TCP" / "UDP" / "SCTP" (case-insensitive); nullopt otherwise.
std::optional<Protocol> parse_protocol(std::string_view s);

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes

  // Dotted IPv4 or RFC 4291 IPv6 (with ::, and a trailing dotted quad).
  static std::optional<IpAddress> parse(std::string_view s);
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;
};

struct Cidr {
  IpAddress base;  // host bits cleared
  int prefix = 0;

  // "10.0.0.0/24", "fd00::/8"; a bare address is a /32 or /128. The API
  // requires the prefix; host bits set are accepted and cleared.
  static std::optional<Cidr> parse(std::string_view s);
  bool contains(const IpAddress& ip) const;
  bool contains(const Cidr& other) const;  // other is a subset of this
  bool everything() const { return prefix == 0; }
  std::string to_string() const;
};

// ---- the parsed model --------------------------------------------------------

// One `ports` entry. No port and no name: every port of the protocol.
// protocol nullopt: any protocol (Cilium's ANY; never for Kubernetes, where it
// defaults to TCP).
struct PortSpec {
  std::optional<Protocol> protocol = Protocol::TCP;
  int port = 0;      // 0: every port
  int end_port = 0;  // 0: just `port`; else the inclusive range port..end_port
  std::string name;  // a named port, resolved against the destination pod

  static PortSpec all() { return PortSpec{std::nullopt, 0, 0, {}}; }
  bool all_ports() const { return port == 0 && name.empty(); }
  bool covers_protocol(Protocol p) const { return !protocol || *protocol == p; }
  // Whether this numeric spec covers `p` on `protocol` (named ports: false).
  bool covers_number(int p, Protocol proto) const;
  std::string to_string() const;  // "TCP/443", "TCP/32000-32768", "UDP/*", "TCP/serve-80", "any/*"
};

// One destination selector of an egress rule.
struct Peer {
  enum class Kind : std::uint8_t {
    any,       // every destination (missing/empty `to`, Cilium rule without L3 part)
    pods,      // pods selected by namespace and pod selectors
    ip_block,  // cidr minus except
    fqdn,      // Cilium toFQDNs
    entity,    // Cilium toEntities (world, cluster, host, ...)
    nodes,     // cluster policies' `nodes` peer: node IPs (namespace_selector unused, pod_selector = node labels)
    domain,    // cluster policies' `domainNames` (fqdn: the name; fqdn_pattern: a leading "*." wildcard)
  };
  Kind kind = Kind::any;
  // pods: nullopt = the policy's own namespace (for a clusterwide policy:
  // every namespace). pod_selector empty = every pod.
  std::optional<LabelSelector> namespace_selector;
  LabelSelector pod_selector;
  // ip_block
  Cidr cidr;
  std::vector<Cidr> except;
  // fqdn: a matchName (exact) or a matchPattern (`*` = within one DNS label;
  // a lone `*` = every name).
  std::string fqdn;
  bool fqdn_pattern = false;
  // entity: world, all, cluster, host, remote-node, kube-apiserver, ...
  std::string entity;

  // Whether this peer alone reaches every destination: `to` empty,
  // 0.0.0.0/0 or ::/0 (even with excepts), entity world/all, fqdn pattern "*".
  bool reaches_anywhere() const;
  std::string to_string() const;  // readable, for tables and messages
};

// A cluster policy rule's action (AdminNetworkPolicy Allow = ClusterNetworkPolicy Accept).
enum class Action : std::uint8_t { accept, deny, pass };
std::string_view to_string(Action a);  // "Accept", "Deny", "Pass"

// The tier of a cluster policy (policy.networking.k8s.io): evaluated Admin,
// then NetworkPolicy, then Baseline.
enum class Tier : std::uint8_t { admin, baseline };
std::string_view to_string(Tier t);  // "Admin", "Baseline"

// One egress rule, or one ingress rule: for an ingress rule `to` holds the
// `from` peers (the other end of the connection either way).
struct EgressRule {
  std::vector<Peer> to;         // never empty after parsing: [any] for missing/empty `to` / `from`
  std::vector<PortSpec> ports;  // never empty after parsing: [all] for missing/empty `ports`
  bool to_missing = false;      // `to` absent or [] (for messages)
  std::string field;            // JSON pointer of the rule, relative to the object
  int line = 0;
  // Cluster policies only: the rule's action and name (rules are ordered).
  Action action = Action::accept;
  std::string name;
};

struct Policy {
  // cluster: AdminNetworkPolicy, BaselineAdminNetworkPolicy (v1alpha1) and
  // ClusterNetworkPolicy (v1alpha2, v1beta1) of policy.networking.k8s.io.
  enum class Flavor : std::uint8_t { kubernetes, cilium, cilium_clusterwide, cluster };
  Flavor flavor = Flavor::kubernetes;
  ObjectRef ref;
  std::string file;
  int line = 0;
  std::string ns;              // empty for CiliumClusterwideNetworkPolicy
  int spec_index = -1;         // Cilium `specs[i]`; -1 for `spec`
  LabelSelector pod_selector;  // podSelector / endpointSelector

  // Cilium clusterwide: the namespace part of endpointSelector
  // (k8s:io.kubernetes.pod.namespace, ...); nullopt: every namespace.
  std::optional<LabelSelector> namespace_selector;

  // Effective policy types (after the API's defaulting): whether the policy
  // has a say in the direction. Cilium: an ingress/egress (or *Deny) section.
  bool ingress = false;
  bool egress = false;
  // Whether selecting the pod puts it in default deny for egress (Cilium's
  // enableDefaultDeny.egress: false adds allows without isolating).
  bool egress_default_deny = true;
  bool policy_types_set = false;  // spec.policyTypes given (Kubernetes)
  bool has_ingress_rules = false;
  bool has_egress_rules = false;          // `egress` has at least one rule (whether or not it applies)
  std::vector<EgressRule> egress_rules;   // only the rules that apply (egress true)
  std::vector<EgressRule> ingress_rules;  // only the rules that apply (ingress true; Kubernetes only)
  std::size_t written_egress_rules = 0;   // `egress` entries written, applied or not

  // Lines for findings.
  std::string selector_field;  // "/spec/podSelector"
  int selector_line = 0;
  int policy_types_line = 0;
  int spec_line = 0;
  int egress_line = 0;
  bool mentions_egress = false;           // name or an annotation mentions "egress"
  std::vector<IgnoreAnnotation> ignores;  // the honoured ones
  std::vector<std::string> notes;         // parts of the policy the engine does not model

  // Cluster policies: the subject is namespace_selector (always set) AND
  // pod_selector; ingress/egress stay false (they do not isolate as a
  // NetworkPolicy does) and the ordered rules are in *_rules.
  Tier tier = Tier::admin;
  int priority = 0;

  bool is_cilium() const { return flavor == Flavor::cilium || flavor == Flavor::cilium_clusterwide; }
  bool is_cluster() const { return flavor == Flavor::cluster; }
  // "Admin, priority 10" (cluster policies; empty otherwise)
  std::string tier_text() const;
  std::string display() const;  // "NetworkPolicy models/deny-all-egress"
};

// The policies of an inventory: records it owns (parsed from files) and
// records it only refers to (the webhook's cache snapshot, shared by every
// review), in one order. A review refers instead of copying: with 200
// policies in a namespace the copies were most of a review's cost.
class PolicyList {
 public:
  // Iterates as a vector of Policy does (the records, not the pointers).
  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = Policy;
    using difference_type = std::ptrdiff_t;
    using pointer = const Policy*;
    using reference = const Policy&;
    const_iterator() = default;
    explicit const_iterator(std::vector<const Policy*>::const_iterator it) : it_(it) {}
    reference operator*() const { return **it_; }
    pointer operator->() const { return *it_; }
    reference operator[](difference_type n) const { return *it_[n]; }
    const_iterator& operator++() {
      ++it_;
      return *this;
    }
    const_iterator operator++(int) {
      auto t = *this;
      ++it_;
      return t;
    }
    const_iterator& operator--() {
      --it_;
      return *this;
    }
    const_iterator operator--(int) {
      auto t = *this;
      --it_;
      return t;
    }
    const_iterator& operator+=(difference_type n) {
      it_ += n;
      return *this;
    }
    const_iterator& operator-=(difference_type n) {
      it_ -= n;
      return *this;
    }
    friend const_iterator operator+(const_iterator a, difference_type n) { return a += n; }
    friend const_iterator operator+(difference_type n, const_iterator a) { return a += n; }
    friend const_iterator operator-(const_iterator a, difference_type n) { return a -= n; }
    friend difference_type operator-(const const_iterator& a, const const_iterator& b) { return a.it_ - b.it_; }
    friend bool operator==(const const_iterator& a, const const_iterator& b) { return a.it_ == b.it_; }
    friend auto operator<=>(const const_iterator& a, const const_iterator& b) { return a.it_ <=> b.it_; }

   private:
    std::vector<const Policy*>::const_iterator it_;
  };

  PolicyList() = default;
  PolicyList(PolicyList&& other) noexcept
      : items_(std::move(other.items_)),
        owned_(std::exchange(other.owned_, nullptr)),
        owners_(std::move(other.owners_)) {
    other.items_.clear();
  }
  PolicyList& operator=(PolicyList&& other) noexcept {
    items_ = std::move(other.items_);
    owned_ = std::exchange(other.owned_, nullptr);
    owners_ = std::move(other.owners_);
    other.items_.clear();
    return *this;
  }
  // A copy owns copies of every record (nothing in the code base copies a
  // list on a hot path; tests do).
  PolicyList(const PolicyList& other);
  PolicyList& operator=(const PolicyList& other);

  // A record this list owns.
  void push_back(Policy policy);
  // A record owned elsewhere; `owner` keeps it alive as long as this list.
  void push_back_ref(const Policy& policy);
  void keep_alive(std::shared_ptr<const void> owner);

  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void reserve(std::size_t n) { items_.reserve(n); }
  const Policy& operator[](std::size_t i) const { return *items_[i]; }
  const Policy& front() const { return *items_.front(); }
  const Policy& back() const { return *items_.back(); }
  const_iterator begin() const { return const_iterator(items_.begin()); }
  const_iterator end() const { return const_iterator(items_.end()); }

  // Drops the records `pred` is true of from the list (owned ones stay stored).
  template <class Pred>
  std::size_t erase_if(Pred pred) {
    return std::erase_if(items_, [&](const Policy* p) { return pred(*p); });
  }
  // Appends another list's records (the owned ones and owners move over).
  void append(PolicyList&& other);
  // Stable order by `less` over the records.
  template <class Less>
  void stable_sort(Less less) {
    if (std::is_sorted(items_.begin(), items_.end(), [&](const Policy* a, const Policy* b) { return less(*a, *b); }))
      return;
    std::stable_sort(items_.begin(), items_.end(), [&](const Policy* a, const Policy* b) { return less(*a, *b); });
  }

 private:
  std::vector<const Policy*> items_;
  // This list's own records (a deque keeps their addresses on push_back), in
  // a store that owners_ holds; lists appended bring their stores along.
  std::deque<Policy>* owned_ = nullptr;
  std::vector<std::shared_ptr<const void>> owners_;
};

struct NamedPort {
  std::string name;
  Protocol protocol = Protocol::TCP;
  int port = 0;
};

// A LOKI_* variable of the agent's environment, as written. The container
// name and the pointer repeat across the pods of a shape: interned.
struct EnvSetting {
  bool present = false;
  bool literal = true;  // false for valueFrom (value unknown)
  int line = 0;         // beside the flags: 56 bytes, not 64 (a lint run keeps one per agent pod)
  std::string value;
  InternedText container;
  InternedText field;  // JSON pointer of the env entry
};

// The LOKI_* settings of an agent's environment.
struct AgentEnv {
  EnvSetting egress_policy;   // LOKI_NETWORK_EGRESS_POLICY
  EnvSetting allowed_hosts;   // LOKI_ALLOWED_HOSTS
  EnvSetting block_metadata;  // LOKI_BLOCK_METADATA_ENDPOINT
  bool any() const { return egress_policy.present || allowed_hosts.present || block_metadata.present; }
};

// What the network pass needs of a pod template, and nothing more.
struct PodInfo {
  ObjectRef ref;  // the workload
  InternedText file;
  int line = 0;
  InternedText ns;  // one copy per namespace name, not one per pod (a cluster's namespaces are few)
  Labels labels;
  bool host_network = false;
  bool loki = false;             // a loki-mode pod under the config
  bool inferred_kind = false;    // its kind is not a known workload kind (PodTemplate::inferred)
  std::vector<NamedPort> ports;  // containers' named ports
  // status.podIPs (else status.podIP) when known (live pods, pods from
  // files with a status); for a hostNetwork pod these are its node's IPs.
  std::vector<IpAddress> ips;
  // The LOKI_* settings, apart and immutable (shared by copies); nullptr
  // when none is set. Inline, three unset settings were ~340 of a record's
  // ~750 bytes, and a lint run keeps a record per pod template.
  std::shared_ptr<const AgentEnv> env;
  InternedText labels_field;  // pointer of the template's labels
  int labels_line = 0;
  InternedText host_network_field;
  int host_network_line = 0;
  std::vector<IgnoreAnnotation> ignores;  // the honoured ones

  std::string labels_text() const;  // "app=llm-api,role=x" or "<none>"

  const EnvSetting& egress_policy() const { return env ? env->egress_policy : unset_env(); }
  const EnvSetting& allowed_hosts() const { return env ? env->allowed_hosts : unset_env(); }
  const EnvSetting& block_metadata() const { return env ? env->block_metadata : unset_env(); }
  void set_env(AgentEnv e) { env = e.any() ? std::make_shared<const AgentEnv>(std::move(e)) : nullptr; }
  void set_egress_policy(EnvSetting s) { set_one(&AgentEnv::egress_policy, std::move(s)); }
  void set_allowed_hosts(EnvSetting s) { set_one(&AgentEnv::allowed_hosts, std::move(s)); }
  void set_block_metadata(EnvSetting s) { set_one(&AgentEnv::block_metadata, std::move(s)); }

 private:
  static const EnvSetting& unset_env() {
    static const EnvSetting kUnset;
    return kUnset;
  }
  void set_one(EnvSetting AgentEnv::*which, EnvSetting s) {
    AgentEnv e = env ? *env : AgentEnv{};
    e.*which = std::move(s);
    set_env(std::move(e));
  }
};

// A mutex for a lazily filled cache inside a const object: the network pass
// reads one Inventory and Analyzer from several threads. Copies and moves get
// a fresh mutex (the cache's contents are copied by their owner).
struct CacheMutex {
  // Shared for lookups, which are nearly all of the uses: the pass's threads
  // took turns on one plain mutex per pod and per finding (futex sleeps were
  // a fifth of the network pass at 100k objects).
  mutable std::shared_mutex m;
  CacheMutex() = default;
  CacheMutex(const CacheMutex&) {}
  CacheMutex& operator=(const CacheMutex&) { return *this; }  // NOLINT(cert-oop54-cpp): nothing is copied
};

// Namespaces by name with their labels; `kubernetes.io/metadata.name` is
// always present, also for namespaces the set does not know.
class NamespaceSet {
 public:
  // Namespaces not added are looked up here before they count as unknown:
  // the webhook's cache answers for the whole cluster without a copy per
  // review. The labels must include kubernetes.io/metadata.name and outlive
  // the set (the function keeps what it points into alive).
  using Lookup = std::function<const Labels*(const std::string& name)>;

  void add(const std::string& name, Labels labels);
  void set_lookup(Lookup lookup) { lookup_ = std::move(lookup); }
  const Labels& labels_of(const std::string& name) const;
  bool known(const std::string& name) const { return ns_.count(name) != 0 || (lookup_ && lookup_(name) != nullptr); }
  void merge(NamespaceSet&& other);  // other's definitions win; its lookup when this has none
  std::size_t size() const { return ns_.size(); }

 private:
  std::map<std::string, Labels, std::less<>> ns_;
  Lookup lookup_;
  mutable std::map<std::string, Labels, std::less<>> unknown_;  // under unknown_mu_
  CacheMutex unknown_mu_;
};

inline constexpr std::string_view namespace_name_label = "kubernetes.io/metadata.name";

// NetworkPolicy, CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy,
// AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy
bool is_policy_kind(std::string_view kind);
bool is_cluster_policy_kind(std::string_view kind);  // the last three

// Parses a NetworkPolicy / CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy
// (several for a Cilium `specs` list). Tolerant: parts that cannot be read are
// left out and noted (invalid input is reported by validation); an invalid
// pod selector drops the policy. The apiVersion is not checked (validation
// reports a wrong one; the intent is still analysed).
std::vector<Policy> parse_policies(const Object& object, const std::string& default_namespace);

// The compact pod record of a workload object; nullopt when it has no pod template.
std::optional<PodInfo> parse_pod(const Object& object, const Config& config, const std::string& default_namespace);

// Everything the network pass looks at.
struct Inventory {
  PolicyList policies;
  std::vector<PodInfo> pods;
  NamespaceSet namespaces;

  // Adds whatever the object contributes (policy, namespace, pod template).
  void add(const Object& object, const Config& config, const std::string& default_namespace);
  // Moves another inventory's records in.
  void merge(Inventory&& other);
  // Sorts records by file and line, for deterministic output.
  void sort();
};

// ---- analysis ------------------------------------------------------------------

// One allowed (peer, ports) pair of a selecting policy's egress rule.
struct Grant {
  const Policy* policy = nullptr;  // nullptr: not isolated, everything allowed
  std::size_t rule = 0;            // index into policy->egress_rules (ingress: ingress_rules)
  const Peer* peer = nullptr;
  const PortSpec* port = nullptr;
  bool ingress = false;

  std::string where() const;  // "NetworkPolicy x/p egress[0]"; cluster: "ClusterNetworkPolicy p (Admin, priority 10,
                              // egress[2] \"name\")"
};

// The grants of the rules of some policies in one direction: every (peer x
// port) of each rule, in the order (policy, rule, peer, port). Kept as the
// rules, not the pairs: one rule of 20,000 peers and 20,000 ports fits in a
// 1 MB policy and is 400 million pairs, which as Grants took 16 GB. Iterating
// yields each Grant by value; code that can decide per rule reads rules().
class GrantList {
 public:
  struct RuleRef {
    const Policy* policy = nullptr;
    std::size_t rule = 0;  // index into policy->egress_rules (ingress: ingress_rules)
  };

  // Not isolated: one grant of everything (Grant::policy == nullptr).
  static GrantList everything(bool ingress);
  // Every rule of these policies, in their order.
  static GrantList of(const std::vector<const Policy*>& policies, bool ingress);

  bool is_everything() const { return everything_; }
  bool ingress() const { return ingress_; }
  const std::vector<RuleRef>& rules() const { return rules_; }
  const EgressRule& rule(const RuleRef& r) const;
  std::size_t size() const;  // the number of grants (pairs)
  bool empty() const { return size() == 0; }

  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Grant;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Grant;
    Grant operator*() const;
    iterator& operator++();
    iterator operator++(int) {
      iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const iterator&) const = default;

   private:
    friend class GrantList;
    void settle();  // moves past rules without a pair
    const GrantList* list_ = nullptr;
    std::size_t rule_ = 0, peer_ = 0, port_ = 0;
  };
  iterator begin() const;
  iterator end() const;

 private:
  std::vector<RuleRef> rules_;
  bool everything_ = false;
  bool ingress_ = false;
};

// What the policies selecting a pod make of it. A pure function of which
// policies select it and whether they apply (not to hostNetwork pods), so
// the pods the same policies select share one (Analyzer::analyze): a lint
// run over 90k generated pods keeps 11.7k of these, not one per pod.
struct Isolation {
  bool policies_apply = true;                   // false for hostNetwork pods
  std::vector<const Policy*> ingress_policies;  // selecting, with Ingress
  std::vector<const Policy*> egress_policies;   // selecting, with Egress
  std::vector<const Policy*> selecting;         // selecting, any direction
  bool ingress_isolated = false;
  bool egress_isolated = false;
  // Normalized allowed egress: every (peer x port) of every rule of every
  // egress policy; one grant of everything when egress is not isolated.
  GrantList egress = GrantList::everything(false);
  // The same for ingress (the peers are sources).
  GrantList ingress = GrantList::everything(true);
  bool cilium_ingress = false;  // a selecting Cilium policy has ingress rules (not modelled)
  // Selecting cluster policies per tier, in evaluation order (priority, then
  // name). Never for hostNetwork pods ("host-networked pods are not included
  // in subject selection").
  std::vector<const Policy*> admin;
  std::vector<const Policy*> baseline;
};

// One pod and its (shared, immutable) isolation: `net->egress`.
struct PodNetwork {
  const PodInfo* pod = nullptr;
  std::shared_ptr<const Isolation> isolation;

  const Isolation* operator->() const { return isolation.get(); }
  const Isolation& operator*() const { return *isolation; }
};

struct Destination {
  enum class Kind : std::uint8_t { ip, pod, host };
  Kind kind = Kind::ip;
  IpAddress ip;                  // ip
  const PodInfo* pod = nullptr;  // pod (its addresses: pod->ips)
  std::string host;              // host: a DNS name

  static Destination address(IpAddress a) { return {Kind::ip, a, nullptr, {}}; }
  static Destination to_pod(const PodInfo& p) { return {Kind::pod, {}, &p, {}}; }
  static Destination hostname(std::string h) { return {Kind::host, {}, nullptr, std::move(h)}; }
  std::string to_string() const;
};

// Whether a peer matches a pod or address: certainly, not at all, or
// depending on a fact the input does not have (`condition`, e.g. the IP of a
// pod known only by its template).
struct Match {
  enum class Kind : std::uint8_t { no, yes, maybe };
  Kind kind = Kind::no;
  std::string condition;  // maybe: "the pod IP is in 10.0.0.0/8"
  explicit operator bool() const { return kind != Kind::no; }
  static Match yes() { return {Kind::yes, {}}; }
  static Match no() { return {}; }
  static Match maybe(std::string condition) { return {Kind::maybe, std::move(condition)}; }
  static Match of(bool b) { return b ? yes() : no(); }
};

// How the network plugin treats hostNetwork pods, which the API leaves
// undefined: like pod-network pods, or as traffic of the node's IP that
// podSelector and namespaceSelector never match (the most common).
enum class HostModel : std::uint8_t { pod_network, node_ip };

struct Verdict {
  // conditional: allowed or not depending on something the input does not
  // say (a pod IP, a DNS answer, the CNI's treatment of hostNetwork pods).
  enum class Answer : std::uint8_t { denied, allowed, conditional };
  Answer answer = Answer::denied;
  bool allowed = false;     // answer == allowed
  std::optional<Grant> by;  // the first grant that allows it (conditional: that allows it if the condition holds)
  std::string reason;       // why (allowed or not), one line
  std::vector<std::string> caveats;

  // Which tier decided: "Admin", "NetworkPolicy", "Baseline", or "default"
  // (no tier decided: allowed); empty when no cluster policy selects the pod
  // (the NetworkPolicy-only verdicts are unchanged).
  std::string tier;
  std::optional<Grant> passed_by;    // the Admin rule whose Pass handed the decision on
  std::vector<std::string> skipped;  // policies of later tiers never consulted (display names)

  bool possible() const { return answer != Answer::denied; }
  void set(Answer a) {
    answer = a;
    allowed = a == Answer::allowed;
  }
};
std::string_view to_string(Verdict::Answer a);  // "allowed", "denied", "conditional"

// A connection from a pod: the source's egress and, for a pod destination,
// the destination's ingress; allowed only when both are.
struct Connection {
  Verdict egress;
  std::optional<Verdict> ingress;  // nullopt: an IP or host destination (only egress applies)
  Verdict::Answer answer = Verdict::Answer::denied;
};

// Answers questions about one inventory. Indexes policies and pods by
// namespace and caches the pods each peer selects, so a pass over every pod
// stays roughly linear. Its caches are locked: one Analyzer answers from
// several threads (the network pass).
class Analyzer {
 public:
  explicit Analyzer(const Inventory& inv);

  const Inventory& inventory() const { return inv_; }
  // The cluster's pod CIDRs (`--pod-cidr`): a pod whose IP the input does not
  // say has one in them, so an ipBlock disjoint from them does not match it
  // and one covering those of a family does.
  void set_pod_cidrs(std::vector<Cidr> cidrs) { pod_cidrs_ = std::move(cidrs); }
  // Policies of the namespace, then the Cilium clusterwide ones (not the
  // tiered cluster policies: cluster_policies()).
  std::vector<const Policy*> policies_for(const std::string& ns) const;
  // AdminNetworkPolicy / BaselineAdminNetworkPolicy / ClusterNetworkPolicy, in
  // evaluation order: Admin by priority, then Baseline by priority.
  const std::vector<const Policy*>& cluster_policies() const { return cluster_; }
  // Pods of a namespace in the inventory.
  const std::vector<const PodInfo*>& pods_in(const std::string& ns) const;

  bool selects(const Policy& policy, const PodInfo& pod) const;
  // host_network_as_pod: analyse a hostNetwork pod as the pod-network pods
  // are (HostModel::pod_network); by default policies do not apply to it.
  PodNetwork analyze(const PodInfo& pod, bool host_network_as_pod = false) const;
  // The source side: whether the pod's egress lets it reach `dest`.
  // explain false: a caller that reads only the answer and the grant gets no
  // reason text under NetworkPolicy alone (a review asks this several times).
  Verdict allows(const PodNetwork& net, const Destination& dest, int port, Protocol protocol,
                 bool explain = true) const;
  // The destination side: whether the pod's ingress admits `source`.
  Verdict admits(const PodNetwork& net, const PodInfo& source, int port, Protocol protocol) const;
  // Both sides (ingress only for a pod destination).
  Connection connect(const PodInfo& source, const Destination& dest, int port, Protocol protocol) const;
  // The same with both sides analysed beforehand (analyze(source), and
  // analyze(*dest.pod) for a pod destination, else ignored): a pass over many
  // pairs and ports analyses each pod once.
  Connection connect(const PodNetwork& source, const Destination& dest, const PodNetwork& dest_net, int port,
                     Protocol protocol) const;

  Match peer_match(const Policy& policy, const Peer& peer, const Destination& dest,
                   HostModel model = HostModel::pod_network) const;
  bool peer_matches(const Policy& policy, const Peer& peer, const Destination& dest) const {
    return peer_match(policy, peer, dest).kind == Match::Kind::yes;
  }
  bool port_matches(const PortSpec& spec, const Destination& dest, int port, Protocol protocol) const;
  // Whether the port spec can carry `port`/`protocol` to some destination
  // (named ports: by the pods the peer selects, else the kube-dns names
  // "dns"/"dns-tcp" for port 53).
  bool grant_covers_port(const Grant& g, int port, Protocol protocol) const;
  // Whether any grant of the list covers it (per rule: P + Q steps, not P x Q).
  bool any_grant_covers_port(const GrantList& grants, int port, Protocol protocol) const;
  // Pods a peer selects (pods peers only); cached.
  const std::vector<const PodInfo*>& pods_of_peer(const Policy& policy, const Peer& peer) const;

 private:
  bool namespace_matches(const Policy& policy, const Peer& peer, const std::string& ns) const;
  // Every tier (the NetworkPolicy verdicts alone: np_egress, np_ingress).
  Verdict egress_under(const PodNetwork& net, const Destination& dest, int port, Protocol protocol, HostModel model,
                       bool explain = true) const;
  Verdict ingress_under(const PodNetwork& net, const PodInfo& source, int port, Protocol protocol,
                        HostModel model) const;
  Verdict np_egress(const PodNetwork& net, const Destination& dest, int port, Protocol protocol, HostModel model,
                    bool explain = true) const;
  Verdict np_ingress(const PodNetwork& net, const PodInfo& source, int port, Protocol protocol, HostModel model) const;
  // Whether a cluster policy rule matches: the first peer that does (yes, or
  // maybe), with a port that does.
  struct FirstGrant {
    Match::Kind kind = Match::Kind::no;  // yes: allowed; maybe: allowed if `condition`
    std::optional<Grant> grant;
    std::string condition;
  };
  FirstGrant first_grant(const GrantList& grants, const Destination& peer_side, const Destination& ports_side, int port,
                         Protocol protocol, HostModel model) const;
  Match rule_match(const Policy& policy, const EgressRule& rule, const Destination& other, const Destination& ports_of,
                   int port, Protocol protocol, HostModel model, const Peer*& peer, const PortSpec*& spec) const;

  Match unknown_pod_ip(const Peer& peer) const;
  // The tiers around the NetworkPolicy verdict `np` (a function: computed
  // only when evaluation reaches the NetworkPolicy tier).
  using RuleMatcher = std::function<Match(const Policy&, const EgressRule&, const Peer*&, const PortSpec*&)>;
  Verdict tiered(const PodNetwork& net, bool ingress, const RuleMatcher& match, const std::function<Verdict()>& np,
                 const std::string& what) const;

  const Inventory& inv_;
  std::vector<Cidr> pod_cidrs_;
  std::unordered_map<std::string, std::vector<const Policy*>> by_ns_;
  std::vector<const Policy*> clusterwide_;
  std::vector<const Policy*> cluster_;
  std::unordered_map<std::string, std::vector<const PodInfo*>> pods_by_ns_;
  // Filled on first use; under peer_pods_mu_ (analyze, allows, ... may run on
  // several threads). Node-based: references to the vectors stay valid. Peers
  // that select across namespaces and say the same (namespaces, pod
  // selector) share one list, by that text: the kube-dns peer of 3,000
  // policies compared every namespace 3,000 times (100k generated objects).
  mutable std::unordered_map<const Peer*, const std::vector<const PodInfo*>*> peer_pods_;
  mutable std::unordered_map<std::string, std::vector<const PodInfo*>> peer_pods_by_text_;
  mutable std::forward_list<std::vector<const PodInfo*>>
      peer_pods_own_;  // own-namespace peers (no allocation when empty)
  CacheMutex peer_pods_mu_;
  // Every (name, protocol, port) a pod of the inventory declares: most named
  // ports are answered without looking at the pods a peer selects.
  // What the spec alone says of carrying port/protocol: nullopt when it
  // depends on the pods the peer selects (a named port some pod maps to it).
  std::optional<bool> spec_covers_port(const PortSpec& s, int port, Protocol protocol) const;
  // Whether a pod the peer selects names `name` port/protocol.
  bool peer_pod_serves(const Policy& policy, const Peer& peer, const std::string& name, int port,
                       Protocol protocol) const;
  // Each port name's (protocol, number) pairs over all pods, sorted and unique.
  std::unordered_map<std::string, std::vector<std::pair<Protocol, int>>> named_ports_;
  // The isolations analyze() has made, by what decides them (policies_apply,
  // then the selecting, admin and baseline policies); each shard under its mutex.
  struct IsolationKey {
    bool policies_apply = true;
    std::vector<const Policy*> policies;  // selecting, then admin, then baseline (disjoint kinds)
    bool operator==(const IsolationKey&) const = default;
  };
  struct IsolationKeyHash {
    std::size_t operator()(const IsolationKey& key) const noexcept;
  };
  // Sharded by the key's hash: a large inventory makes an isolation for one
  // pod in eight (11,693 of 90,000 at 100k generated objects), and one lock
  // for all of them kept the pass's threads waiting on each other. Four
  // shards ran the 100k pass as fast as sixteen, and a review's Analyzer
  // (one per review, one thread) makes and frees each.
  struct IsolationShard {
    std::unordered_map<IsolationKey, std::shared_ptr<const Isolation>, IsolationKeyHash> map;
    CacheMutex mu;
  };
  static constexpr std::size_t kIsolationShards = 4;
  mutable std::array<IsolationShard, kIsolationShards> isolations_;
};

// Whether a DNS name matches a Cilium matchPattern (`*` within one label;
// "*" alone matches every name). Case-insensitive; trailing dots ignored.
bool fqdn_pattern_matches(std::string_view pattern, std::string_view name);

// Why a selector does not select a set of labels, one clause per failing
// requirement: "has no label role", "has role=frontend, not backend". Empty
// when it selects them. `subject` names the labelled thing ("llm-api").
std::vector<std::string> selector_misses(const LabelSelector& sel, const Labels& labels, std::string_view subject);

// ---- explain -------------------------------------------------------------------

struct ExplainTarget {
  Destination dest;
  int port = 0;
  Protocol protocol = Protocol::TCP;
  std::string port_name;  // a named port of the destination pod, as written
  std::string text;       // as the user wrote it
};

// The readable explanation `loki-audit explain` prints: labels, every policy
// of the namespace and whether (or why not) it selects the pod, isolation per
// direction, the allowed egress as a table, and the verdict for `to`.
std::string explain(const Analyzer& analyzer, const PodInfo& pod, const std::optional<ExplainTarget>& to);

// The verdict for `to` as JSON (`loki-audit explain -f json`; the schema is in
// the README): {"from", "to", "port", "protocol", "verdict", "egress",
// "ingress", "caveats"}.
nlohmann::json explain_json(const Analyzer& analyzer, const PodInfo& pod, const ExplainTarget& to);

}  // namespace loki::netpol
