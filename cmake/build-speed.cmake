# Build speed (README "Building and testing"; measurements in docs/build-times.md). Each lever was measured on
# the project's 2-core machine and kept because it paid; each can be switched off to compare.
#
#   LOKI_CCACHE   compile through ccache when it is installed (CCACHE_DIR: scripts/build.sh and scripts/test.sh
#                 use ~/.cache/loki-guard/ccache), so a rebuild in a fresh clone recompiles nothing
#   LOKI_LINKER   mold (default when installed), lld, or empty for the compiler's default (ld.bfd)
#   LOKI_PCH      a precompiled nlohmann/json (+ the standard containers), built once for libloki and reused by
#                 loki-audit, the admission library and the unit tests (gcc; off by default under clang)
# Measured and not kept: Asio/Beast separate compilation (-9 % on webhook/server.cpp, paid back by compiling
# their sources once: a wash); Asio/Beast in the precompiled header (a 350 MB PCH made JSON-only files slower);
# split DWARF (moot with -g1); a unity build of the unit tests (their helpers collide; PCH already took most of
# the parse cost, and -O2 code generation, which unity does not reduce, is 70 % of each compile).

option(LOKI_CCACHE "Compile through ccache when it is installed" ON)
# Off by default under clang (the sanitizer/fuzz build): measured there it saved nothing (cold ASan build 297 s
# with it, 278 s without; instrumentation dominates), and clang's PCH records absolute paths, so a fresh clone
# in another folder missed ccache on every file that used it.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  set(_loki_pch_default OFF)
else()
  set(_loki_pch_default ON)
endif()
option(LOKI_PCH "Precompiled nlohmann/json header" ${_loki_pch_default})

if(LOKI_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(LOKI_CCACHE_PROGRAM ccache)
  if(LOKI_CCACHE_PROGRAM)
    # ccache 4.7 takes its settings from the environment only, so the launcher sets them per compile:
    # - sloppiness: a precompiled header is reused from the cache only when its defines and timestamps are not
    #   part of the key (ccache manual, "Precompiled headers"); our PCH holds installed system headers only;
    # - basedir + nohashdir: paths under the source tree are rewritten relative, so a fresh clone in another
    #   folder (CI's) hits what an earlier clone cached.
    set(CMAKE_CXX_COMPILER_LAUNCHER
        ${CMAKE_COMMAND} -E env "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
        "CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}" CCACHE_NOHASHDIR=1 ${LOKI_CCACHE_PROGRAM})
  endif()
endif()

find_program(LOKI_MOLD_PROGRAM mold)
if(LOKI_MOLD_PROGRAM)
  set(_loki_default_linker mold)
else()
  set(_loki_default_linker "")
endif()
set(LOKI_LINKER "${_loki_default_linker}" CACHE STRING "Linker: mold, lld, or empty for the default")
if(LOKI_LINKER)
  include(CheckLinkerFlag)
  check_linker_flag(CXX "-fuse-ld=${LOKI_LINKER}" LOKI_HAVE_LINKER_${LOKI_LINKER})
  if(LOKI_HAVE_LINKER_${LOKI_LINKER})
    add_link_options(-fuse-ld=${LOKI_LINKER})
  else()
    message(STATUS "loki-guard: -fuse-ld=${LOKI_LINKER} does not work here; default linker")
  endif()
endif()

# libloki's precompiled header; other targets reuse it (same flags: -Winvalid-pch with -Werror would stop the
# build if they ever diverged, rather than silently compiling without it).
set(LOKI_PCH_JSON <nlohmann/json.hpp> <string> <vector> <map> <optional> <string_view> <memory> <functional>)
# clang writes the headers' modification times into a PCH, so every fresh clone (new mtimes) makes a new PCH and
# ccache then misses every file compiled with it (ccache manual, "Precompiled headers": -fno-pch-timestamp).
if(LOKI_PCH AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  add_compile_options("SHELL:-Xclang -fno-pch-timestamp")
endif()
function(loki_precompile target)
  if(LOKI_PCH)
    target_precompile_headers(${target} PRIVATE ${ARGN})
  endif()
endfunction()
function(loki_precompile_reuse target)
  if(LOKI_PCH)
    target_precompile_headers(${target} REUSE_FROM loki)
  endif()
endfunction()
