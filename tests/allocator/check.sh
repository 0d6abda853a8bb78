#!/usr/bin/env bash
# Checks that BINARY runs on ALLOCATOR (cmake/allocator.cmake): the allocator
# itself answers its own statistics switch at exit, which only happens when
# it, not glibc, serves malloc in the process.
#   tests/allocator/check.sh build/bin/loki-audit mimalloc|jemalloc|system
set -euo pipefail
bin=$1
alloc=$2
out=$(MIMALLOC_SHOW_STATS=1 MALLOC_CONF=stats_print:true "$bin" --version 2>&1 >/dev/null)
has_mi=0
has_je=0
grep -q "^heap stats:" <<<"$out" && has_mi=1
grep -q "jemalloc statistics" <<<"$out" && has_je=1
case $alloc in
  mimalloc) want_mi=1 want_je=0 ;;
  jemalloc) want_mi=0 want_je=1 ;;
  system) want_mi=0 want_je=0 ;;
  *) echo "unknown allocator $alloc" >&2; exit 2 ;;
esac
if [ "$has_mi$has_je" != "$want_mi$want_je" ]; then
  echo "$bin: expected $alloc; mimalloc statistics: $has_mi, jemalloc statistics: $has_je" >&2
  exit 1
fi
echo "$bin runs on $alloc"
