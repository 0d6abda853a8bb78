# Build speed (README "Building"; figures in docs/build-times.md). Every lever here was measured on the
# project's 2-core machine and kept because it paid; each can be switched off to compare.
#
#   LOKI_CCACHE   compile through ccache when it is installed (cache dir: CCACHE_DIR, which scripts/build.sh
#                 and scripts/test.sh point at ~/.cache/loki-guard/ccache)
#   LOKI_LINKER   mold (default when installed), lld, or empty for the compiler's default ld.bfd
#   LOKI_SPLIT_DWARF  debug info in .dwo files next to the objects, not in them: the static libraries and
#                 every link shrink by the debug info, and gdb still finds it
#   LOKI_PCH      precompiled headers for nlohmann/json, spdlog/fmt, Boost.Asio/Beast and doctest

option(LOKI_CCACHE "Compile through ccache when it is installed" ON)
option(LOKI_SPLIT_DWARF "Split debug info into .dwo files (-gsplit-dwarf)" ON)
option(LOKI_PCH "Precompiled headers for the heavy third-party headers" ON)

if(LOKI_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(LOKI_CCACHE_PROGRAM ccache)
  if(LOKI_CCACHE_PROGRAM)
    # ccache 4.7 takes its settings from the environment only, so the launcher sets them per compile:
    # - sloppiness: a precompiled header is reused from the cache only when its defines and timestamps are not
    #   part of the key (ccache manual, "Precompiled headers"); our PCHs hold installed system headers only;
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

if(LOKI_SPLIT_DWARF)
  # GCC adds .debug_gnu_pubnames/pubtypes with split DWARF (for a gdb index nobody builds): 80 of the 110 MB
  # loki-audit had left; -gno-pubnames drops them.
  add_compile_options($<$<CONFIG:RelWithDebInfo,Debug>:-gsplit-dwarf> $<$<CONFIG:RelWithDebInfo,Debug>:-gno-pubnames>)
endif()

# The precompiled headers. One function so every target names its set the same way.
function(loki_precompile target)
  if(LOKI_PCH)
    target_precompile_headers(${target} PRIVATE ${ARGN})
  endif()
endfunction()
set(LOKI_PCH_JSON <nlohmann/json.hpp> <string> <vector> <map> <optional> <string_view> <memory> <functional>)
set(LOKI_PCH_ASIO <boost/asio.hpp> <boost/asio/ssl.hpp> <boost/beast/core.hpp> <boost/beast/http.hpp>
                  <boost/beast/ssl.hpp>)
set(LOKI_PCH_LOG <spdlog/spdlog.h> <fmt/format.h>)

# Asio, its SSL part and Beast in one translation unit (webhook/asio_impl.cpp, library loki-asio) instead of
# inline in every file that includes them.
option(LOKI_ASIO_SEPARATE "Compile Boost.Asio/Beast once (BOOST_*_SEPARATE_COMPILATION)" ON)
if(LOKI_ASIO_SEPARATE)
  add_compile_definitions(BOOST_ASIO_SEPARATE_COMPILATION BOOST_BEAST_SEPARATE_COMPILATION)
endif()
