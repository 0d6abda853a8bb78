#!/usr/bin/env bash
# The allocator chosen at configure time (-DLOKI_ALLOCATOR, cmake/allocator.cmake) is the one the binary
# really runs with: each allocator announces itself when asked through its own environment variable
# (mimalloc: MIMALLOC_VERBOSE, jemalloc: MALLOC_CONF=stats_print), glibc malloc ignores both.
#   tests/webhook/allocator.sh BINARY system|mimalloc|jemalloc
set -uo pipefail
bin=${1:?usage: allocator.sh BINARY ALLOCATOR}
want=${2:?usage: allocator.sh BINARY ALLOCATOR}
out=$(MIMALLOC_VERBOSE=1 MALLOC_CONF=stats_print:true "$bin" --version 2>&1) || {
  echo "FAIL: $bin --version failed: $out"
  exit 1
}
grep -q '^mimalloc: process init' <<<"$out" && got=mimalloc
grep -q 'Begin jemalloc statistics' <<<"$out" && got=${got:+$got+}jemalloc
got=${got:-system}
if [ "$got" != "$want" ]; then
  echo "FAIL: $(basename "$bin") runs with $got malloc, configured LOKI_ALLOCATOR=$want"
  exit 1
fi
echo "ok: $(basename "$bin") runs with $got malloc"
