# loki-audit's pod rules in Rego, for the peer benchmark (bench/peers/).
#
# One policy, two entry points:
#   data.loki.deny            conftest: `conftest test --namespace loki --policy bench/peers/rego FILE`
#                             (input: one Kubernetes object)
#   data.loki.admission.deny  OPA: `opa eval -d bench/peers/rego -i review.json data.loki.admission.deny`
#                             or POST /v1/data/loki/admission/deny to `opa run --server`
#                             (input: an AdmissionReview; checks input.request.object)
#   data.loki.admission.response  the AdmissionReview response (uid, allowed, status.message)
#
# Every message starts with "[<rule-id>]", the id loki-audit uses, so results
# can be compared rule by rule. The semantics follow core/checks/*.cpp:
#   - pod templates of Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet,
#     Job, CronJob, ReplicationController and PodTemplate;
#   - containers, initContainers and ephemeralContainers;
#   - runAsNonRoot, runAsUser and seccompProfile are inherited from the pod's
#     securityContext unless the container sets them (the container wins);
#     readOnlyRootFilesystem, allowPrivilegeEscalation, privileged and
#     capabilities are container-only.
# Unlike `loki-audit lint` (default selector app=loki-mode) this checks every
# pod template, as `loki-audit lint --all-pods` does.
package loki

import rego.v1

pod_spec_paths := {
	"Pod": ["spec"],
	"Deployment": ["spec", "template", "spec"],
	"ReplicaSet": ["spec", "template", "spec"],
	"StatefulSet": ["spec", "template", "spec"],
	"DaemonSet": ["spec", "template", "spec"],
	"Job": ["spec", "template", "spec"],
	"ReplicationController": ["spec", "template", "spec"],
	"CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
	"PodTemplate": ["template", "spec"],
}

container_lists := {
	"initContainers": "init container",
	"containers": "container",
	"ephemeralContainers": "ephemeral container",
}

# ---- entry points ------------------------------------------------------------

deny contains msg if {
	some msg in violations(input)
}

admission.deny contains msg if {
	some msg in violations(input.request.object)
}

admission.response := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"response": {
		"uid": object.get(input, ["request", "uid"], ""),
		"allowed": count(admission.deny) == 0,
		"status": {"message": concat("; ", sort(admission.deny))},
	},
}

# ---- helpers -------------------------------------------------------------------

violations(obj) := {msg |
	spec := pod_spec(obj)
	some msg in pod_violations(obj, spec)
}

pod_spec(obj) := spec if {
	is_object(obj)
	path := pod_spec_paths[obj.kind]
	spec := object.get(obj, path, null)
	is_object(spec)
}

name_of(obj) := sprintf("%s/%s", [object.get(obj, ["metadata", "namespace"], "default"), object.get(obj, ["metadata", "name"], "?")])

msg(id, obj, text) := sprintf("[%s] %s %s: %s", [id, obj.kind, name_of(obj), text])

containers(spec) := [{"what": sprintf("%s %q", [kind, object.get(c, "name", "?")]), "c": c} |
	some field, kind in container_lists
	some c in object.get(spec, field, [])
	is_object(c)
]

# The container's securityContext field if set, else the pod's.
inherited(spec, c, path) := v if {
	v := object.get(c, array.concat(["securityContext"], path), null)
	v != null
} else := object.get(spec, array.concat(["securityContext"], path), null)

own(c, key) := object.get(c, ["securityContext", key], null)

pod_violations(obj, spec) := ((host_namespaces(obj, spec) | service_account_token(obj, spec)) | {m |
	some ref in containers(spec)
	some m in container_violations(obj, spec, ref)
})

container_violations(obj, spec, ref) := ((((((host_port(obj, ref) | privileged(obj, ref)) | run_as_root(obj, spec, ref)) | writable_root_fs(obj, ref)) | missing_seccomp(obj, spec, ref)) | privilege_escalation(obj, ref)) | capabilities(obj, ref))

# ---- pod-level rules ---------------------------------------------------------------

host_namespaces(obj, spec) := {msg(id, obj, sprintf("pod shares the node's namespace (%s: true)", [field])) |
	some field, id in {"hostNetwork": "host-network", "hostPID": "host-pid", "hostIPC": "host-ipc"}
	spec[field] == true
}

service_account_token(obj, spec) := {msg("service-account-token", obj, "pod mounts a ServiceAccount token (automountServiceAccountToken is not false)") |
	object.get(spec, "automountServiceAccountToken", null) != false
}

# ---- container rules -------------------------------------------------------------

host_port(obj, ref) := {msg("host-port", obj, sprintf("%s declares hostPort %v", [ref.what, hp])) |
	some p in object.get(ref.c, "ports", [])
	hp := object.get(p, "hostPort", 0)
	is_number(hp)
	hp != 0
}

privileged(obj, ref) := {msg("privileged", obj, sprintf("%s runs privileged", [ref.what])) |
	own(ref.c, "privileged") == true
}

run_as_root(obj, spec, ref) := {msg("run-as-root", obj, sprintf("%s %s", [ref.what, reason])) |
	reason := root_reason(spec, ref.c)
}

root_reason(spec, c) := "runs as root (runAsUser: 0)" if {
	inherited(spec, c, ["runAsUser"]) == 0
} else := "may run as root (runAsNonRoot is not true and no non-zero runAsUser)" if {
	not forces_non_root(spec, c)
}

forces_non_root(spec, c) if inherited(spec, c, ["runAsNonRoot"]) == true

forces_non_root(spec, c) if {
	uid := inherited(spec, c, ["runAsUser"])
	is_number(uid)
	uid > 0
}

writable_root_fs(obj, ref) := {msg("writable-root-fs", obj, sprintf("%s has a writable root filesystem", [ref.what])) |
	own(ref.c, "readOnlyRootFilesystem") != true
}

missing_seccomp(obj, spec, ref) := {msg("missing-seccomp", obj, sprintf("%s has seccomp profile %v", [ref.what, t])) |
	t := inherited(spec, ref.c, ["seccompProfile", "type"])
	not t in {"RuntimeDefault", "Localhost"}
}

privilege_escalation(obj, ref) := {msg("privilege-escalation", obj, sprintf("%s allows privilege escalation", [ref.what])) |
	own(ref.c, "allowPrivilegeEscalation") != false
}

capabilities(obj, ref) := drop_missing(obj, ref) | caps_added(obj, ref)

drop_missing(obj, ref) := {msg("capabilities-not-dropped", obj, sprintf("%s does not drop ALL capabilities", [ref.what])) |
	not drops_all(ref.c)
}

drops_all(c) if "ALL" in object.get(c, ["securityContext", "capabilities", "drop"], [])

caps_added(obj, ref) := {msg("capabilities-not-dropped", obj, sprintf("%s adds capabilities %v", [ref.what, add])) |
	add := object.get(ref.c, ["securityContext", "capabilities", "add"], [])
	is_array(add)
	count(add) > 0
}
