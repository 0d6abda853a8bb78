#!/usr/bin/env bash
# The container image without a container engine: builds the image's root
# filesystem with scripts/make-rootfs.sh (as the Dockerfile does) into a temp
# dir and runs it under chroot with the Dockerfile's final-stage USER, ENV and
# ENTRYPOINT. Nothing from the host is visible in there: no /proc, /sys, /dev,
# no shell, so whatever the binaries need at run time must be in the rootfs.
#
#   tests/image/run.sh BINDIR        (BINDIR holds loki-webhook and loki-audit)
#
# As root the binaries run as uid/gid 65532 (chroot --userspec); otherwise in a
# user namespace (unshare -r chroot) as the mapped root, the uid checks skipped.
# Only loopback is used.
set -uo pipefail
BINDIR=${1:?usage: run.sh BINDIR}
BINDIR=$(cd "$BINDIR" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
RFS=$TMP/rootfs
WPID=
cleanup() {
  [ -n "$WPID" ] && kill -KILL "$WPID" 2>/dev/null && wait "$WPID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
bad_lines=30
finish() {
  summary
  exit
}

# ---- the Dockerfile's final stage: what `docker run` would apply ---------------------
DOCKERFILE=$ROOT/Dockerfile
final=$(awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$DOCKERFILE")
USERSPEC=$(sed -n 's/^USER[[:space:]]\+\([^[:space:]]*\).*/\1/p' <<<"$final" | tail -1)
ENTRYPOINT=$(sed -n 's/^ENTRYPOINT[[:space:]]*\["\([^"]*\)".*/\1/p' <<<"$final" | tail -1)
IMAGE_ENV=()
while read -r _ rest; do
  for kv in $rest; do IMAGE_ENV+=("$kv"); done
done < <(grep '^ENV[[:space:]]' <<<"$final")
if grep -q '^FROM scratch' <<<"$final" && [[ $USERSPEC =~ ^[0-9]+:[0-9]+$ ]] && [ -n "$ENTRYPOINT" ] \
  && grep -q 'COPY --from=build /rootfs /' <<<"$final" && grep -q 'make-rootfs.sh /rootfs' "$DOCKERFILE"; then
  ok "Dockerfile: FROM scratch, rootfs from make-rootfs.sh, USER $USERSPEC, ENTRYPOINT $ENTRYPOINT, ENV ${IMAGE_ENV[*]}"
else
  bad "Dockerfile final stage not understood (want FROM scratch, COPY --from=build /rootfs /, numeric USER, ENTRYPOINT)" \
    "$final"
  finish
fi
project_version=$(sed -n 's/^project(loki-guard VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
label_version=$(sed -n 's/^ARG VERSION=\(.*\)/\1/p' <<<"$final")
[ "$label_version" = "$project_version" ] && ok "image version label $label_version = project() version" \
  || bad "Dockerfile ARG VERSION=$label_version, CMakeLists.txt project() VERSION $project_version"

# ---- build the rootfs ---------------------------------------------------------------------------
if "$ROOT/scripts/make-rootfs.sh" "$RFS" "$BINDIR" >"$TMP/make.log" 2>&1; then
  ok "make-rootfs: $(tail -1 "$TMP/make.log" | sed 's/^rootfs [^:]*: //')"
else
  bad "make-rootfs.sh failed" "$(cat "$TMP/make.log")"
  finish
fi
(cd "$RFS" && find . -printf '%M %u %s %P\n' | sort) >"$TMP/tree1"
mkdir "$RFS/stray" && touch "$RFS/stray/file" "$RFS/tmp/stray"
if "$ROOT/scripts/make-rootfs.sh" "$RFS" "$BINDIR" >"$TMP/make2.log" 2>&1 \
  && (cd "$RFS" && find . -printf '%M %u %s %P\n' | sort) | cmp -s - "$TMP/tree1"; then
  ok "make-rootfs again: wiped and rebuilt the same tree"
else
  bad "second make-rootfs run" "$(cat "$TMP/make2.log")"
fi
mkdir "$TMP/notours" && echo keep >"$TMP/notours/file"
if ! "$ROOT/scripts/make-rootfs.sh" "$TMP/notours" "$BINDIR" >"$TMP/make3.log" 2>&1 && [ -f "$TMP/notours/file" ]; then
  ok "make-rootfs refuses to wipe a non-empty directory it did not create"
else
  bad "make-rootfs wiped a directory it did not create" "$(cat "$TMP/make3.log")"
fi

# ---- nothing but what the image needs -----------------------------------------------------
shells=$(cd "$RFS" && find . \( -name sh -o -name bash -o -name dash -o -name ash -o -name zsh -o -name ksh \
  -o -name mksh -o -name csh -o -name tcsh -o -name fish -o -name busybox -o -name toybox \) -printf '/%P\n')
[ -z "$shells" ] && [ ! -e "$RFS/bin" ] && [ ! -e "$RFS/sbin" ] && [ ! -e "$RFS/usr/sbin" ] \
  && ok "no shell, no busybox, no /bin or /sbin" || bad "shell in the rootfs" "$shells"
unexpected=$(cd "$RFS" && find . -mindepth 1 ! -type d -printf '/%P\n' | grep -vxE \
  '/usr/bin/loki-(webhook|audit)|/etc/(passwd|group)|/etc/ssl/certs/ca-certificates\.crt|/(usr/)?lib(64|32)?(/[a-z0-9_-]+-linux-gnu[a-z0-9_]*)?/[^/]+\.so(\.[0-9]+)*')
[ -z "$unexpected" ] && ok "only binaries, shared libraries, CA bundle, passwd, group" \
  || bad "unexpected files in the rootfs" "$unexpected"
nonreg=$(cd "$RFS" && find . -mindepth 1 ! -type d ! -type f -printf '%y /%P\n')
[ -z "$nonreg" ] && ok "no symlinks, devices, fifos or sockets" || bad "non-regular files" "$nonreg"
execs=$(cd "$RFS" && find . -type f -perm /111 -printf '/%P\n' | grep -vE '\.so(\.[0-9]+)*$' | sort | tr '\n' ' ')
[ "$execs" = "/usr/bin/loki-audit /usr/bin/loki-webhook " ] && ok "executables: $execs" \
  || bad "executables other than the two binaries: $execs"
modes="$(stat -c %a "$RFS") $(stat -c %a "$RFS/tmp") $(find "$RFS/tmp" -mindepth 1 | wc -l)"
[ "$modes" = "755 1777 0" ] && ok "/ is 0755, /tmp is empty and 1777" || bad "root dir mode, /tmp mode, entries in /tmp: $modes"
grep -qx 'nonroot:x:65532:65532:[^:]*:[^:]*:[^:]*' "$RFS/etc/passwd" && grep -qx 'nonroot:x:65532:' "$RFS/etc/group" \
  && ok "nonroot 65532 in /etc/passwd and /etc/group" || bad "no nonroot 65532" "$(cat "$RFS/etc/passwd" "$RFS/etc/group")"
[ -s "$RFS/etc/ssl/certs/ca-certificates.crt" ] && grep -q 'BEGIN CERTIFICATE' "$RFS/etc/ssl/certs/ca-certificates.crt" \
  && ok "CA bundle present" || bad "CA bundle missing or empty"

# ---- how to run inside it -------------------------------------------------------------------
# env -i: the image's ENV only, plus what docker adds (PATH, HOME from /etc/passwd).
HOME_DIR=$(awk -F: -v u="${USERSPEC%%:*}" '$3 == u { print $6 }' "$RFS/etc/passwd")
ENVV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "HOME=${HOME_DIR:-/}" "${IMAGE_ENV[@]}")
CHROOT=$(command -v chroot || echo /usr/sbin/chroot)
if [ "$(id -u)" = 0 ]; then
  AS_ROOT=1
  USERNS=()
  CHROOT_CMD=("$CHROOT" --userspec="$USERSPEC" --groups="${USERSPEC#*:}" "$RFS")
  ok "running as uid:gid $USERSPEC (chroot --userspec)"
elif unshare -r true 2>/dev/null; then
  AS_ROOT=0
  USERNS=(-r)
  CHROOT_CMD=("$CHROOT" "$RFS")
  ok "not root: running as the mapped root of a user namespace (unshare -r chroot); uid checks skipped"
else
  bad "cannot chroot: not root and unprivileged user namespaces are unavailable"
  finish
fi
RUN=("${ENVV[@]}" ${USERNS[@]+unshare "${USERNS[@]}"} "${CHROOT_CMD[@]}")
inside() { timeout 20 "${RUN[@]}" "$@" </dev/null; }
# The chart runs the webhook with readOnlyRootFilesystem and no volume on /tmp:
# the same here, with the rootfs bind-mounted read-only in a mount namespace.
RUN_RO=(unshare "${USERNS[@]}" -m --propagation private sh -c
  'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"' "$RFS" "${ENVV[@]}" "${CHROOT_CMD[@]}")

# Every ELF resolves its libraries inside the rootfs: the rootfs's own loader
# lists them (ldd is a shell script; this is what it runs), and "not found" or
# a failing exit means a missing library.
INTERP=$(readelf -l "$RFS/usr/bin/loki-webhook" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
if [ -z "$INTERP" ] || [ ! -f "$RFS$INTERP" ]; then
  bad "the program interpreter '${INTERP:-?}' of loki-webhook is not in the rootfs"
else
  nelf=0
  unresolved=""
  while read -r f; do
    [ "$(head -c 4 "$RFS$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
    nelf=$((nelf + 1))
    out=$(inside "$INTERP" --list "$f" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] || grep -q "not found" <<<"$out"; then unresolved+="$f (exit $rc): $out"$'\n'; fi
  done < <(cd "$RFS" && find . -type f -printf '/%P\n' | sort)
  [ -z "$unresolved" ] && ok "all $nelf ELF files resolve their libraries inside the rootfs ($INTERP --list)" \
    || bad "libraries missing from the rootfs" "$unresolved"
fi

# ---- loki-audit ----------------------------------------------------------------------------------
expect() {  # name want-exit cmd... (inside the rootfs)
  local name=$1 want=$2
  shift 2
  inside "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  if [ "$got" = "$want" ]; then ok "$name (exit $got)"; else bad "$name: exit $got, want $want" "$(cat "$TMP/err" "$TMP/out")"; fi
}
expect "loki-audit --version" 0 /usr/bin/loki-audit --version
grep -qx "loki-audit $project_version" "$TMP/out" || bad "loki-audit --version printed: $(cat "$TMP/out")"
expect "loki-webhook --version" 0 /usr/bin/loki-webhook --version
expect "loki-audit rules" 0 /usr/bin/loki-audit rules
grep -q "host-network" "$TMP/out" || bad "rules list lacks host-network" "$(head -5 "$TMP/out")"
CLEAN=$ROOT/manifests/examples/hardened/loki-agent.yaml
BROKEN=$ROOT/manifests/examples/broken/host-network-model-backend.yaml
cp "$CLEAN" "$RFS/tmp/clean.yaml" && cp "$BROKEN" "$RFS/tmp/broken.yaml" || bad "example manifests missing"
expect "loki-audit lint on a clean manifest in /tmp" 0 /usr/bin/loki-audit lint --color never /tmp/clean.yaml
expect "loki-audit lint on a broken manifest in /tmp" 1 /usr/bin/loki-audit lint --color never /tmp/broken.yaml
grep -q "\[host-network\]" "$TMP/out" || bad "lint output lacks [host-network]" "$(head -5 "$TMP/out")"
expect "loki-audit lint -o /tmp/report.json (writes to /tmp)" 1 /usr/bin/loki-audit lint -f json -o /tmp/report.json \
  /tmp/broken.yaml
if [ "$AS_ROOT" = 1 ]; then
  owner=$(stat -c %u:%g "$RFS/tmp/report.json" 2>/dev/null)
  [ "$owner" = "$USERSPEC" ] && ok "the report is owned by $owner" || bad "report owner '${owner:-none}', want $USERSPEC"
fi
grep -q '"host-network"' "$RFS/tmp/report.json" 2>/dev/null && ok "the JSON report names host-network" \
  || bad "JSON report" "$(head -c 500 "$RFS/tmp/report.json" 2>&1)"
expect "the entrypoint without flags is a usage error" 2 "$ENTRYPOINT"
grep -q -- "--tls-cert is required" "$TMP/err" || bad "entrypoint usage message" "$(cat "$TMP/err")"

# ---- loki-webhook: serve, review, stop ------------------------------------------------------
if timeout 20 "${RUN_RO[@]}" /usr/bin/loki-audit lint -o /tmp/ro.json /tmp/clean.yaml </dev/null >"$TMP/out" 2>&1; then
  bad "the read-only rootfs is writable" "$(cat "$TMP/out")"
  RUN_WEBHOOK=("${RUN[@]}")
elif grep -q "Read-only file system" "$TMP/out"; then
  ok "read-only rootfs for the webhook (readOnlyRootFilesystem, as the chart): writing /tmp fails"
  RUN_WEBHOOK=("${RUN_RO[@]}")
else
  echo "skip read-only rootfs (no mount namespace here): $(head -3 "$TMP/out" | tr '\n' ' ')"
  RUN_WEBHOOK=("${RUN[@]}")
fi
mkdir -p "$RFS/tmp/config"
printf 'selector: app=loki-mode\nexemptNamespaces: [kube-system]\n' >"$RFS/tmp/config/policy.yaml"
TLS=$RFS/tmp/tls
mkdir -p "$TLS"
(
  cd "$TLS" || exit 1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
    -subj /CN=loki-image-test-ca -days 1 &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -out tls.csr -subj /CN=loki-webhook &&
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext &&
    openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile ext -out tls.crt &&
    mv ca.crt ca.key ca.srl tls.csr ext "$TMP/" && chmod 0700 . && chmod 0600 tls.key
) >"$TMP/openssl.log" 2>&1 || bad "openssl" "$(cat "$TMP/openssl.log")"
CA=$TMP/ca.crt
# The serving key is readable by 65532 only (as a Secret mounted with fsGroup would be).
[ "$AS_ROOT" = 1 ] && chown -R "$USERSPEC" "$TLS"

"${RUN_WEBHOOK[@]}" "$ENTRYPOINT" --without-cluster --listen 127.0.0.1:0 --tls-cert /tmp/tls/tls.crt \
  --tls-key /tmp/tls/tls.key --config /tmp/config/policy.yaml </dev/null >"$TMP/webhook.log" 2>&1 &
WPID=$!
PORT=
for _ in $(seq 1 100); do
  PORT=$(grep -o '"msg":"serving".*"port":[0-9]*' "$TMP/webhook.log" | grep -o '[0-9]*$')
  [ -n "$PORT" ] && break
  kill -0 "$WPID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$PORT" ]; then
  bad "loki-webhook did not start" "$(cat "$TMP/webhook.log")"
  finish
fi
ok "loki-webhook serving on 127.0.0.1:$PORT inside the rootfs"
if [ "$AS_ROOT" = 1 ]; then
  ids=$(awk '/^(Uid|Gid):/ { printf "%s %s %s %s ", $2, $3, $4, $5 } /^Groups:/ { printf "groups %s", $2 }' \
    "/proc/$WPID/status")
  want="${USERSPEC%%:*} ${USERSPEC%%:*} ${USERSPEC%%:*} ${USERSPEC%%:*} ${USERSPEC#*:} ${USERSPEC#*:} ${USERSPEC#*:} ${USERSPEC#*:} groups ${USERSPEC#*:}"
  [ "$ids" = "$want" ] && ok "the webhook runs as uid/gid $USERSPEC, no other groups" || bad "webhook ids: $ids (want $want)"
fi
if [ "${RUN_WEBHOOK[0]}" = unshare ]; then
  rootopts=$(awk '$5 == "/" { print $6 }' "/proc/$WPID/mountinfo" 2>&1)
  [[ ,$rootopts, == *,ro,* ]] && ok "the webhook's / is mounted read-only ($rootopts)" \
    || bad "the webhook's / is not read-only: '$rootopts'"
fi
CURL=(curl -sS --max-time 5 --cacert "$CA")
body=$("${CURL[@]}" "https://127.0.0.1:$PORT/healthz" 2>&1)
[ "$body" = ok ] && ok "GET /healthz over TLS: ok" || bad "/healthz" "$body"
code=$("${CURL[@]}" -o "$TMP/readyz" -w '%{http_code}' "https://127.0.0.1:$PORT/readyz" 2>&1)
[ "$code" = 200 ] && ok "GET /readyz: 200 $(cat "$TMP/readyz")" || bad "/readyz: $code" "$(cat "$TMP/readyz" 2>&1)"

cat >"$TMP/review.json" <<'EOF'
{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
 "request": {"uid": "3f0b6c1e-7d2a-4c55-9a0e-6b1d2c3e4f50",
  "kind": {"group": "", "version": "v1", "kind": "Pod"},
  "resource": {"group": "", "version": "v1", "resource": "pods"},
  "namespace": "agents", "operation": "CREATE", "userInfo": {"username": "image-test"},
  "object": {"apiVersion": "v1", "kind": "Pod",
   "metadata": {"name": "hostnet", "namespace": "agents", "labels": {"app": "loki-mode"}},
   "spec": {"hostNetwork": true, "containers": [{"name": "agent", "image": "loki:1"}]}}}}
EOF
resp=$("${CURL[@]}" -H 'Content-Type: application/json' --data-binary @"$TMP/review.json" \
  "https://127.0.0.1:$PORT/validate" 2>&1)
if grep -q '"allowed":false' <<<"$resp" && grep -q '"uid":"3f0b6c1e-7d2a-4c55-9a0e-6b1d2c3e4f50"' <<<"$resp" \
  && grep -q 'host-network' <<<"$resp"; then
  ok "POST /validate: hostNetwork loki-mode pod refused (\"allowed\":false, [host-network])"
else
  bad "POST /validate" "$resp"
fi
"${CURL[@]}" "https://127.0.0.1:$PORT/metrics" >"$TMP/metrics" 2>&1
grep -q 'loki_webhook_requests_total{decision="deny",endpoint="/validate",kind="Pod"} 1' "$TMP/metrics" \
  && ok "GET /metrics counts the denial" || bad "/metrics" "$(grep loki_webhook_requests "$TMP/metrics")"

# The CA bundle is what verifies an API server when the kubeconfig names no CA
# (OpenSSL finds it through the image's ENV SSL_CERT_FILE): trust the test CA
# through the bundle only, and loki-audit gets past TLS to an HTTP answer (the
# webhook is no API server: 404, "namespace not found").
cat "$CA" >>"$RFS/etc/ssl/certs/ca-certificates.crt"
cat >"$RFS/tmp/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:$PORT"}}]
users: [{name: u, user: {token: image-test}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: agents}}]
current-context: c
EOF
expect "loki-audit against a server whose CA is only in the bundle" 2 /usr/bin/loki-audit --kubeconfig /tmp/kubeconfig
if grep -q 'namespace "agents" not found' "$TMP/err" && ! grep -q "TLS handshake" "$TMP/err"; then
  ok "TLS verified through /etc/ssl/certs/ca-certificates.crt"
else
  bad "CA bundle not used" "$(cat "$TMP/err")"
fi

t0=$(date +%s%N)
kill -TERM "$WPID"
for _ in $(seq 1 100); do
  kill -0 "$WPID" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$WPID" 2>/dev/null; then
  bad "loki-webhook still running 10 s after SIGTERM" "$(tail -5 "$TMP/webhook.log")"
else
  wait "$WPID"
  rc=$?
  WPID=
  ms=$((($(date +%s%N) - t0) / 1000000))
  [ "$rc" = 0 ] && grep -q '"msg":"stopped"' "$TMP/webhook.log" && ok "SIGTERM: clean exit in $ms ms" \
    || bad "SIGTERM: exit $rc" "$(tail -5 "$TMP/webhook.log")"
fi
grep -qiE '"level":"(error|critical)"' "$TMP/webhook.log" && bad "errors in the webhook log" "$(cat "$TMP/webhook.log")"

finish
