# Shared helpers of the shell tests (sourced): ok/bad counters, a free
# loopback port, a serving certificate signed by a given CA, and the summary.
# Set after sourcing: bad_lines (lines of detail bad prints, default 40) and
# test_prefix (put before every line, e.g. "smoke: ").
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "${test_prefix:-}ok   $1"; }
bad() {
  fail=$((fail + 1))
  echo "${test_prefix:-}FAIL $1"
  if [ $# -gt 1 ]; then printf '%s\n' "$2" | sed 's/^/     /' | head -"${bad_lines:-40}"; fi
}
# fatal NAME: stop at the first failure (FAIL on stderr, then the summary).
fatal() {
  fail=$((fail + 1))
  echo "${test_prefix:-}FAIL $1" >&2
  summary
  exit 1
}
# check NAME COMMAND...: ok when COMMAND succeeds, else FAIL with its output.
check() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$out"; fi
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# sign_serving_cert CA_CRT CA_KEY OUT_PREFIX: OUT_PREFIX.crt/.key for 127.0.0.1.
sign_serving_cert() {
  openssl req -newkey rsa:2048 -nodes -keyout "$3.key" -out "$3.csr" -subj /CN=loki-webhook 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$3.ext"
  openssl x509 -req -in "$3.csr" -CA "$1" -CAkey "$2" -CAcreateserial -days 1 -extfile "$3.ext" \
    -out "$3.crt" 2>/dev/null
}
# wait_https URL CA [TRIES]: until URL answers 2xx (0.1 s apart).
wait_https() {
  local i
  for i in $(seq 1 "${3:-100}"); do
    curl -sf --cacert "$2" "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
summary() {
  echo "${test_prefix:-}$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
# register_pod_webhook NAME TAG URL CA_FILE TIMEOUT: a ValidatingWebhookConfiguration NAME sending pod CREATE/UPDATE
# reviews in namespaces labelled loki-guard.io/enforce=TAG to URL (failurePolicy Fail). Each test uses its own
# TAG, so tests running side by side never see each other's namespaces. Uses $KUBECTL.
register_pod_webhook() {
  cat <<YAML | "$KUBECTL" --request-timeout=20s apply -f - >/dev/null
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: $1}
webhooks:
- name: validate.loki-guard.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: $5
  namespaceSelector: {matchLabels: {loki-guard.io/enforce: "$2"}}
  clientConfig: {url: "$3", caBundle: $(base64 -w0 <"$4")}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}
YAML
}
