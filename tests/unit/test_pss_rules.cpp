// The Pod Security Standards rules and the agent escape-route rules (issue 18):
// a positive and a negative case each. Each test cites the line of
// k8s.io/pod-security-admission@v0.36.3 policy/check_*.go that decides it.
#include <doctest/doctest.h>
#include <loki/engine.hpp>
#include <loki/manifest.hpp>
#include <loki/rules.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>

using nlohmann::json;

namespace {

// A Pod that passes every pod rule.
json hardened_pod() {
  return json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "agent", "namespace": "loki", "labels": {"app": "loki-mode"}},
    "spec": {
      "automountServiceAccountToken": false,
      "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
      "containers": [{"name": "loki", "image": "loki:1",
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]}}}],
      "initContainers": [{"name": "setup", "image": "loki:1",
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]}}}]}})");
}

json& spec(json& p) {
  return p["spec"];
}
json& csc(json& p) {
  return p["spec"]["containers"][0]["securityContext"];
}
json& init_sc(json& p) {
  return p["spec"]["initContainers"][0]["securityContext"];
}

std::vector<loki::Finding> findings(const json& obj, std::string_view rule) {
  loki::Object o;
  o.json = obj;
  o.file = "t.yaml";
  o.line = 1;
  auto all = loki::check_object(o, {});
  std::vector<loki::Finding> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out), [&](const auto& f) { return f.rule == rule; });
  return out;
}

json with_host_path(const std::string& path) {
  json p = hardened_pod();
  spec(p)["volumes"] = json::array({{{"name", "v"}, {"hostPath", {{"path", path}}}}});
  return p;
}

bool has(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("the hardened pod passes every rule") {
  loki::Object o;
  o.json = hardened_pod();
  o.file = "t.yaml";
  CHECK(loki::check_object(o, {}).empty());
}

TEST_CASE("host-path-volume") {
  // check_hostPathVolumes.go: "spec.volumes[*].hostPath ... Allowed Values: undefined/null"
  // rule: host-path-volume positive
  auto f = findings(with_host_path("/opt/cache"), "host-path-volume");
  REQUIRE(f.size() == 1);
  CHECK(f[0].field == "/spec/volumes/0/hostPath");
  CHECK(f[0].severity == loki::Severity::error);
  CHECK(has(f[0].message, "/opt/cache"));
  // rule: host-path-volume negative
  json p = hardened_pod();
  spec(p)["volumes"] = json::array({{{"name", "v"}, {"emptyDir", json::object()}}});
  CHECK(findings(p, "host-path-volume").empty());
}

TEST_CASE("host-path-runtime-socket: sockets, their /run and /var/run variants and parent directories") {
  // rule: host-path-runtime-socket positive
  for (const char* path : {"/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
                           "/var/run/containerd", "/var/run/crio/crio.sock", "/run/podman/podman.sock", "/run",
                           "/var/run/", "/var//run/./docker.sock", "/run/user/1000/podman/podman.sock", "/"}) {
    CAPTURE(path);
    auto f = findings(with_host_path(path), "host-path-runtime-socket");
    REQUIRE(f.size() == 1);
    CHECK(f[0].field == "/spec/volumes/0/hostPath/path");
    CHECK(has(f[0].message, ".sock"));
  }
  // rule: host-path-runtime-socket negative
  for (const char* path : {"/opt/cache", "/var/run-other", "/var/lib/docker.sockets", "/run/secrets/x"}) {
    CAPTURE(path);
    CHECK(findings(with_host_path(path), "host-path-runtime-socket").empty());
  }
}

TEST_CASE("host-path-sensitive: node paths, inside them and their parents") {
  // rule: host-path-sensitive positive
  for (const auto& path_named :
       std::initializer_list<std::pair<const char*, const char*>>{{"/", "/"},
                                                                  {"/proc", "/proc"},
                                                                  {"/proc/1/root", "/proc"},
                                                                  {"/sys/fs/cgroup", "/sys"},
                                                                  {"/var/lib/kubelet/pods", "/var/lib/kubelet"},
                                                                  {"/var/lib", "/var/lib/kubelet"},
                                                                  {"/etc/kubernetes/pki", "/etc/kubernetes"},
                                                                  {"/etc", "/etc"},
                                                                  {"/root/.ssh", "/root"},
                                                                  {"/home", "/home"}}) {
    // Not a structured binding: clang cannot capture one in CAPTURE's lambda.
    const char* path = path_named.first;
    CAPTURE(path);
    auto f = findings(with_host_path(path), "host-path-sensitive");
    REQUIRE(f.size() == 1);
    CHECK(has(f[0].message, path_named.second));
  }
  // rule: host-path-sensitive negative
  for (const char* path : {"/opt/cache", "/var/tmp/agent", "/srv/data", "/etcetera", "/var/run/docker.sock"}) {
    CAPTURE(path);
    CHECK(findings(with_host_path(path), "host-path-sensitive").empty());
  }
}

TEST_CASE("restricted-volume-type") {
  // check_restrictedVolumes.go: "limits usage of inline pod volume sources to: configMap, downwardAPI,
  // emptyDir, projected, secret, csi, persistentVolumeClaim, ephemeral, image"
  json p = hardened_pod();
  spec(p)["volumes"] = json::array({{{"name", "n"}, {"nfs", {{"server", "s"}, {"path", "/x"}}}},
                                    {{"name", "f"}, {"flexVolume", {{"driver", "d"}}}}});
  // rule: restricted-volume-type positive
  auto f = findings(p, "restricted-volume-type");
  REQUIRE(f.size() == 2);
  CHECK(f[0].field == "/spec/volumes/0/nfs");
  CHECK(has(f[1].message, "flexVolume"));
  // rule: restricted-volume-type negative
  json ok = hardened_pod();
  ok["spec"]["volumes"] = json::array();
  for (const char* t : {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim",
                        "projected", "secret"})
    ok["spec"]["volumes"].push_back({{"name", t}, {t, json::object()}});
  ok["spec"]["volumes"].push_back({{"name", "defaulted-to-emptyDir"}});
  CHECK(findings(ok, "restricted-volume-type").empty());
  // hostPath and gitRepo are reported by their own rules only.
  CHECK(findings(with_host_path("/opt"), "restricted-volume-type").empty());
}

TEST_CASE("git-repo-volume") {
  json p = hardened_pod();
  spec(p)["volumes"] = json::array({{{"name", "repo"}, {"gitRepo", {{"repository", "https://x/y.git"}}}}});
  // rule: git-repo-volume positive
  auto f = findings(p, "git-repo-volume");
  REQUIRE(f.size() == 1);
  CHECK(has(f[0].message, "CVE-2024-10220"));
  CHECK(findings(p, "restricted-volume-type").empty());
  // rule: git-repo-volume negative
  CHECK(findings(hardened_pod(), "git-repo-volume").empty());
}

TEST_CASE("selinux-options") {
  // check_seLinuxOptions.go: selinuxAllowedTypes1_31 = "", container_t, container_init_t, container_kvm_t,
  // container_engine_t; "setting a custom SELinux user or role option is forbidden"
  json p = hardened_pod();
  csc(p)["seLinuxOptions"] = {{"type", "spc_t"}};
  spec(p)["securityContext"]["seLinuxOptions"] = {{"user", "system_u"}, {"role", "system_r"}};
  // rule: selinux-options positive
  auto f = findings(p, "selinux-options");
  REQUIRE(f.size() == 3);
  CHECK(f[0].field == "/spec/securityContext/seLinuxOptions/user");
  CHECK(f[2].field == "/spec/containers/0/securityContext/seLinuxOptions/type");
  CHECK(f[2].container == "loki");
  CHECK(has(f[2].message, "spc_t"));
  // rule: selinux-options negative
  for (const char* t : {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}) {
    json ok = hardened_pod();
    csc(ok)["seLinuxOptions"] = {{"type", t}, {"level", "s0:c123,c456"}, {"user", ""}};
    CHECK(findings(ok, "selinux-options").empty());
  }
}

TEST_CASE("apparmor-unconfined: field and legacy annotation") {
  // check_appArmorProfile.go: field "Allowed Values: 'RuntimeDefault', 'Localhost', undefined";
  // annotation "Allowed Values: 'runtime/default', 'localhost/*', empty, undefined"
  // rule: apparmor-unconfined positive
  json p = hardened_pod();
  init_sc(p)["appArmorProfile"] = {{"type", "Unconfined"}};
  auto f = findings(p, "apparmor-unconfined");
  REQUIRE(f.size() == 1);
  CHECK(f[0].field == "/spec/initContainers/0/securityContext/appArmorProfile/type");
  CHECK(f[0].container == "setup");
  json a = hardened_pod();
  a["metadata"]["annotations"]["container.apparmor.security.beta.kubernetes.io/loki"] = "unconfined";
  f = findings(a, "apparmor-unconfined");
  REQUIRE(f.size() == 1);
  CHECK(f[0].field == "/metadata/annotations/container.apparmor.security.beta.kubernetes.io~1loki");
  CHECK(f[0].container == "loki");
  // rule: apparmor-unconfined negative
  json ok = hardened_pod();
  spec(ok)["securityContext"]["appArmorProfile"] = {{"type", "RuntimeDefault"}};
  csc(ok)["appArmorProfile"] = {{"type", "Localhost"}, {"localhostProfile", "agent"}};
  ok["metadata"]["annotations"]["container.apparmor.security.beta.kubernetes.io/loki"] = "localhost/agent";
  ok["metadata"]["annotations"]["container.apparmor.security.beta.kubernetes.io/setup"] = "runtime/default";
  CHECK(findings(ok, "apparmor-unconfined").empty());
}

TEST_CASE("proc-mount-unmasked, also in a user namespace") {
  // check_procMount_restricted.go: "Allowed Values: undefined/null, \"Default\"" (no hostUsers relaxation)
  json p = hardened_pod();
  spec(p)["hostUsers"] = false;
  csc(p)["procMount"] = "Unmasked";
  // rule: proc-mount-unmasked positive
  auto f = findings(p, "proc-mount-unmasked");
  REQUIRE(f.size() == 1);
  CHECK(f[0].field == "/spec/containers/0/securityContext/procMount");
  // rule: proc-mount-unmasked negative
  csc(p)["procMount"] = "Default";
  CHECK(findings(p, "proc-mount-unmasked").empty());
}

TEST_CASE("unsafe-sysctl") {
  // check_sysctls.go: sysctlsAllowedV1Dot32 (the 1.0 set + ip_local_reserved_ports + tcp_keepalive_* +
  // tcp_fin_timeout + tcp_rmem/tcp_wmem)
  json p = hardened_pod();
  spec(p)["securityContext"]["sysctls"] = json::array(
      {{{"name", "net.ipv4.tcp_rmem"}, {"value", "4096 87380 6291456"}}, {{"name", "kernel.msgmax"}, {"value", "1"}}});
  // rule: unsafe-sysctl positive
  auto f = findings(p, "unsafe-sysctl");
  REQUIRE(f.size() == 1);
  CHECK(f[0].field == "/spec/securityContext/sysctls/1/name");
  CHECK(has(f[0].message, "kernel.msgmax"));
  // rule: unsafe-sysctl negative
  spec(p)["securityContext"]["sysctls"].erase(1);
  spec(p)["securityContext"]["sysctls"].push_back({{"name", "net.ipv4.ip_unprivileged_port_start"}, {"value", "0"}});
  CHECK(findings(p, "unsafe-sysctl").empty());
}

TEST_CASE("host-probe") {
  // check_hostProbesAndhostLifecycle.go: "Host field is restricted in the probes and lifecycle handlers",
  // "Allowed Values: \"\", undefined/null"
  json p = hardened_pod();
  auto& c = spec(p)["containers"][0];
  c["readinessProbe"] = {{"tcpSocket", {{"host", "10.0.0.1"}, {"port", 22}}}};
  c["lifecycle"]["preStop"] = {{"httpGet", {{"host", "169.254.169.254"}, {"port", 80}}}};
  // rule: host-probe positive
  auto f = findings(p, "host-probe");
  REQUIRE(f.size() == 2);
  CHECK(f[0].field == "/spec/containers/0/readinessProbe/tcpSocket/host");
  CHECK(f[1].field == "/spec/containers/0/lifecycle/preStop/httpGet/host");
  // rule: host-probe negative
  json ok = hardened_pod();
  spec(ok)["containers"][0]["livenessProbe"] = {{"httpGet", {{"host", ""}, {"port", 8080}}}};
  CHECK(findings(ok, "host-probe").empty());
}

TEST_CASE("windows-host-process") {
  // check_windowsHostProcess.go: "must not set securityContext.windowsOptions.hostProcess to true"
  json p = hardened_pod();
  spec(p)["securityContext"]["windowsOptions"] = {{"hostProcess", true}};
  // rule: windows-host-process positive
  auto f = findings(p, "windows-host-process");
  REQUIRE(f.size() == 1);
  CHECK(f[0].field == "/spec/securityContext/windowsOptions/hostProcess");
  // rule: windows-host-process negative
  spec(p)["securityContext"]["windowsOptions"]["hostProcess"] = false;
  CHECK(findings(p, "windows-host-process").empty());
}

TEST_CASE("seccomp-annotation-unconfined") {
  // check_seccompProfile_baseline.go v1.0: "Allowed Values: 'runtime/default', 'docker/default', 'localhost/*',
  // undefined"
  json p = hardened_pod();
  p["metadata"]["annotations"]["seccomp.security.alpha.kubernetes.io/pod"] = "unconfined";
  // rule: seccomp-annotation-unconfined positive
  auto f = findings(p, "seccomp-annotation-unconfined");
  REQUIRE(f.size() == 1);
  CHECK(!f[0].container);
  // rule: seccomp-annotation-unconfined negative
  json ok = hardened_pod();
  ok["metadata"]["annotations"]["seccomp.security.alpha.kubernetes.io/pod"] = "runtime/default";
  ok["metadata"]["annotations"]["container.seccomp.security.alpha.kubernetes.io/loki"] = "localhost/agent.json";
  CHECK(findings(ok, "seccomp-annotation-unconfined").empty());
}

TEST_CASE("root-group") {
  json p = hardened_pod();
  spec(p)["securityContext"]["fsGroup"] = 0;
  spec(p)["securityContext"]["supplementalGroups"] = json::array({1000, 0});
  csc(p)["runAsGroup"] = 0;
  // rule: root-group positive
  auto f = findings(p, "root-group");
  REQUIRE(f.size() == 3);
  CHECK(f[0].field == "/spec/securityContext/fsGroup");
  CHECK(f[1].field == "/spec/securityContext/supplementalGroups/1");
  CHECK(f[2].field == "/spec/containers/0/securityContext/runAsGroup");
  // rule: root-group negative
  json ok = hardened_pod();
  spec(ok)["securityContext"]["runAsGroup"] = 1000;
  spec(ok)["securityContext"]["fsGroup"] = 1000;
  CHECK(findings(ok, "root-group").empty());
}

TEST_CASE("shared-pid-credentials") {
  json p = hardened_pod();
  spec(p)["shareProcessNamespace"] = true;
  spec(p)["volumes"] = json::array({{{"name", "keys"}, {"secret", {{"secretName", "ai-keys"}}}}});
  spec(p)["initContainers"][0]["volumeMounts"] = json::array({{{"name", "keys"}, {"mountPath", "/keys"}}});
  // rule: shared-pid-credentials positive
  auto f = findings(p, "shared-pid-credentials");
  REQUIRE(f.size() == 1);
  CHECK(f[0].container == "setup");
  CHECK(f[0].field == "/spec/shareProcessNamespace");
  // The automounted service-account token is a credential of every container.
  spec(p).erase("automountServiceAccountToken");
  CHECK(findings(p, "shared-pid-credentials").size() == 2);
  // rule: shared-pid-credentials negative
  json ok = hardened_pod();
  spec(ok)["shareProcessNamespace"] = true;
  CHECK(findings(ok, "shared-pid-credentials").empty());
  json unshared = p;
  spec(unshared)["shareProcessNamespace"] = false;
  CHECK(findings(unshared, "shared-pid-credentials").empty());
}

// Pod Security Admission refuses a root or unconfined pod-level value even when
// every container overrides it: visitContainers never looks at containers
// added later, so the pod's own value is judged on its own
// (k8s.io/pod-security-admission@v0.36.3 policy/check_runAsNonRoot.go:83-85
// `if !*podSpec.SecurityContext.RunAsNonRoot { badSetters = append(badSetters, "pod") }`,
// check_runAsUser.go:83-84 `... *podSpec.SecurityContext.RunAsUser == 0 { badSetters = append(badSetters, "pod") }`,
// check_seccompProfile_restricted.go:76-79 `if !validSeccomp(podSpec.SecurityContext.SeccompProfile.Type) {
// badSetters = append(badSetters, "pod")`). An ephemeral debug container
// (kubectl debug) added later inherits the pod's value.
TEST_CASE("pod-level values every container overrides") {
  json p = hardened_pod();
  for (json* sc : {&csc(p), &init_sc(p)}) {
    (*sc)["runAsNonRoot"] = true;
    (*sc)["runAsUser"] = 1000;
    (*sc)["seccompProfile"] = {{"type", "RuntimeDefault"}};
  }
  // rule: run-as-root positive
  SUBCASE("runAsNonRoot: false (check_runAsNonRoot.go:84)") {
    spec(p)["securityContext"]["runAsNonRoot"] = false;
    auto f = findings(p, "run-as-root");
    REQUIRE(f.size() == 1);
    CHECK(f[0].field == "/spec/securityContext/runAsNonRoot");
    CHECK_FALSE(f[0].container);
    CHECK(has(f[0].message, "added later"));
    CHECK(has(f[0].message, "inherits"));
  }
  SUBCASE("runAsUser: 0 (check_runAsUser.go:83)") {
    spec(p)["securityContext"]["runAsUser"] = 0;
    auto f = findings(p, "run-as-root");
    REQUIRE(f.size() == 1);
    CHECK(f[0].field == "/spec/securityContext/runAsUser");
    CHECK(has(f[0].message, "added later"));
  }
  // rule: missing-seccomp positive
  SUBCASE("seccompProfile Unconfined (check_seccompProfile_restricted.go:77)") {
    spec(p)["securityContext"]["seccompProfile"]["type"] = "Unconfined";
    auto f = findings(p, "missing-seccomp");
    REQUIRE(f.size() == 1);
    CHECK(f[0].field == "/spec/securityContext/seccompProfile/type");
    CHECK_FALSE(f[0].container);
    CHECK(has(f[0].message, "added later"));
  }
  SUBCASE("a pod value some container inherits is reported once, on that container") {
    spec(p)["securityContext"]["runAsUser"] = 0;
    spec(p)["securityContext"]["seccompProfile"]["type"] = "Unconfined";
    csc(p).erase("runAsUser");
    csc(p).erase("seccompProfile");
    auto f = findings(p, "run-as-root");
    REQUIRE(f.size() == 1);
    CHECK(f[0].container == "loki");
    auto s = findings(p, "missing-seccomp");
    REQUIRE(s.size() == 1);
    CHECK(s[0].container == "loki");
    CHECK(s[0].field == "/spec/securityContext/seccompProfile/type");
  }
  // rule: run-as-root negative
  // rule: missing-seccomp negative
  SUBCASE("no pod-level value, or a good one, with every container overriding") {
    spec(p).erase("securityContext");
    CHECK(findings(p, "run-as-root").empty());
    CHECK(findings(p, "missing-seccomp").empty());
    spec(p)["securityContext"] = {{"runAsNonRoot", true},
                                  {"runAsUser", 2000},
                                  {"seccompProfile", {{"type", "Localhost"}, {"localhostProfile", "a.json"}}}};
    CHECK(findings(p, "run-as-root").empty());
    CHECK(findings(p, "missing-seccomp").empty());
  }
}

TEST_CASE("runtime-class-not-sandboxed: off by default, a warning when enabled") {
  json p = hardened_pod();
  loki::EngineOptions on;
  on.config = loki::Config::parse("rules: {runtime-class-not-sandboxed: {enabled: true}}\n", "c.yaml");
  auto with = [&](const json& obj, const loki::EngineOptions& o) {
    loki::Object ob;
    ob.json = obj;
    ob.file = "t.yaml";
    auto all = loki::check_object(ob, o);
    std::vector<loki::Finding> out;
    std::copy_if(all.begin(), all.end(), std::back_inserter(out),
                 [](const auto& f) { return f.rule == "runtime-class-not-sandboxed"; });
    return out;
  };
  const loki::Rule* r = loki::find_rule("runtime-class-not-sandboxed");
  REQUIRE(r);
  CHECK_FALSE(r->enabled_by_default);
  CHECK(r->severity == loki::Severity::info);
  CHECK(loki::Config{}.action_of(r->id) == loki::Action::off);
  CHECK(on.config.action_of(r->id) == loki::Action::warn);
  // A setting that does not name `enabled` keeps the rule's default (off).
  CHECK_FALSE(
      loki::Config::parse("rules: {runtime-class-not-sandboxed: {severity: warning}}\n", "c.yaml").rule_enabled(r->id));
  // Off by default: the hardened pod is clean without a runtimeClassName.
  CHECK(findings(p, "runtime-class-not-sandboxed").empty());
  // rule: runtime-class-not-sandboxed positive
  auto f = with(p, on);
  REQUIRE(f.size() == 1);
  CHECK(f[0].severity == loki::Severity::info);
  CHECK(f[0].field == "/spec");
  spec(p)["runtimeClassName"] = "runc";
  f = with(p, on);
  REQUIRE(f.size() == 1);
  CHECK(f[0].field == "/spec/runtimeClassName");
  CHECK(has(f[0].message, "\"runc\""));
  // rule: runtime-class-not-sandboxed negative
  for (const char* rc : {"gvisor", "runsc", "kata", "kata-qemu", "kata-clh"}) {
    spec(p)["runtimeClassName"] = rc;
    CAPTURE(rc);
    CHECK(with(p, on).empty());
  }
  // The sandboxed names are configurable.
  loki::EngineOptions custom = on;
  custom.config.sandbox_runtime_classes = {"firecracker"};
  spec(p)["runtimeClassName"] = "firecracker";
  CHECK(with(p, custom).empty());
  spec(p)["runtimeClassName"] = "gvisor";
  CHECK(with(p, custom).size() == 1);
  CHECK(loki::Config::parse("sandboxRuntimeClasses: [sbx-*]\n", "c.yaml").is_sandbox_runtime_class("sbx-1"));
  CHECK_THROWS_AS(loki::Config::parse("sandboxRuntimeClasses: gvisor\n", "c.yaml"), loki::ConfigError);
}
