# malloc for the long-running binaries: -DLOKI_ALLOCATOR=system|mimalloc|jemalloc.
#   include(${CMAKE_SOURCE_DIR}/cmake/allocator.cmake)
#   loki_link_allocator(loki-webhook)
# Default: mimalloc when libmimalloc is found (Debian libmimalloc-dev), else the system (glibc) malloc.
# mimalloc measured best for loki-webhook (docs/benchmarks.md "Webhook server over TLS": same-run
# comparison under LD_PRELOAD). Sanitizer builds (LOKI_SANITIZE) always use the system allocator: ASan and
# TSan replace malloc themselves.
find_library(LOKI_MIMALLOC_LIBRARY NAMES mimalloc)
find_library(LOKI_JEMALLOC_LIBRARY NAMES jemalloc)
if(LOKI_MIMALLOC_LIBRARY)
  set(_loki_allocator_default mimalloc)
else()
  set(_loki_allocator_default system)
endif()
set(LOKI_ALLOCATOR "${_loki_allocator_default}" CACHE STRING "malloc implementation: system, mimalloc or jemalloc")
set_property(CACHE LOKI_ALLOCATOR PROPERTY STRINGS system mimalloc jemalloc)
if(NOT LOKI_ALLOCATOR MATCHES "^(system|mimalloc|jemalloc)$")
  message(FATAL_ERROR "LOKI_ALLOCATOR: '${LOKI_ALLOCATOR}' is not one of system, mimalloc, jemalloc")
endif()
set(LOKI_ALLOCATOR_EFFECTIVE "${LOKI_ALLOCATOR}")
if(LOKI_SANITIZE AND NOT LOKI_ALLOCATOR STREQUAL "system")
  message(STATUS "loki-guard: LOKI_ALLOCATOR=${LOKI_ALLOCATOR} ignored under LOKI_SANITIZE; using the system allocator")
  set(LOKI_ALLOCATOR_EFFECTIVE system)
endif()
if(LOKI_ALLOCATOR_EFFECTIVE STREQUAL "mimalloc" AND NOT LOKI_MIMALLOC_LIBRARY)
  message(FATAL_ERROR "LOKI_ALLOCATOR=mimalloc but libmimalloc was not found (Debian: libmimalloc-dev)")
endif()
if(LOKI_ALLOCATOR_EFFECTIVE STREQUAL "jemalloc" AND NOT LOKI_JEMALLOC_LIBRARY)
  message(FATAL_ERROR "LOKI_ALLOCATOR=jemalloc but libjemalloc was not found (Debian: libjemalloc-dev)")
endif()
message(STATUS "loki-guard: allocator ${LOKI_ALLOCATOR_EFFECTIVE}")

# Links TARGET (an executable) against the chosen allocator, which then replaces malloc/free/new/delete for
# the whole process: the shared library exports them and is loaded before libc. --no-as-needed keeps it
# even though no symbol of the executable's own objects names it. Defines LOKI_ALLOCATOR_<NAME> for code
# that must talk to the allocator (returning memory to the OS after a huge request).
function(loki_link_allocator target)
  if(LOKI_ALLOCATOR_EFFECTIVE STREQUAL "system")
    target_compile_definitions(${target} PRIVATE LOKI_ALLOCATOR_SYSTEM=1)
    return()
  endif()
  if(LOKI_ALLOCATOR_EFFECTIVE STREQUAL "mimalloc")
    set(_lib ${LOKI_MIMALLOC_LIBRARY})
    target_compile_definitions(${target} PRIVATE LOKI_ALLOCATOR_MIMALLOC=1)
  else()
    set(_lib ${LOKI_JEMALLOC_LIBRARY})
    target_compile_definitions(${target} PRIVATE LOKI_ALLOCATOR_JEMALLOC=1)
  endif()
  target_link_libraries(${target} PRIVATE "-Wl,--push-state,--no-as-needed" ${_lib} "-Wl,--pop-state")
endfunction()
