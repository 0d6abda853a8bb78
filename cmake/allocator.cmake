# The malloc an executable runs on: LOKI_ALLOCATOR=system (glibc), mimalloc or jemalloc (Debian's
# libmimalloc-dev / libjemalloc-dev, in scripts/setup-deps.sh). Linked as a shared library ahead of libc,
# it replaces malloc/free/new/delete for the whole process (libyaml's and libstdc++'s allocations too).
# Why not glibc: loki-audit lint allocates and frees a JSON document per object on 2 threads
# (docs/benchmarks.md, "Against its floor"). Under a sanitizer the allocator is always the system one:
# ASan/TSan interpose malloc themselves.
#   loki_link_allocator(<target>)
set(LOKI_ALLOCATOR "mimalloc" CACHE STRING "malloc of the executables: system, mimalloc or jemalloc")
set_property(CACHE LOKI_ALLOCATOR PROPERTY STRINGS system mimalloc jemalloc)

function(loki_link_allocator target)
  set(_alloc "${LOKI_ALLOCATOR}")
  if(LOKI_SANITIZE)
    set(_alloc system)
  endif()
  if(_alloc STREQUAL "system")
    return()
  elseif(_alloc STREQUAL "mimalloc")
    find_package(mimalloc 2 REQUIRED CONFIG)
    set(_lib mimalloc)
  elseif(_alloc STREQUAL "jemalloc")
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(LOKI_JEMALLOC REQUIRED jemalloc)
    # The library's path, not an imported interface target: CMake would move that target's libraries
    # after the --no-as-needed group below.
    set(_lib ${LOKI_JEMALLOC_LINK_LIBRARIES})
  else()
    message(FATAL_ERROR "LOKI_ALLOCATOR: unknown allocator '${_alloc}' (system, mimalloc, jemalloc)")
  endif()
  # --no-as-needed: nothing references the library by name (it interposes malloc), so an as-needed link
  # would drop it.
  target_link_libraries(${target} PRIVATE -Wl,--push-state,--no-as-needed ${_lib} -Wl,--pop-state)
endfunction()
