# Sanitizer builds: -DLOKI_SANITIZE=address,undefined (ASan+UBSan) or -DLOKI_SANITIZE=thread (TSan).
# Empty (the default) builds without sanitizers. Use a build directory of its own (the CMakePresets.json
# presets `asan` -> build-asan/, `tsan` -> build-tsan/): sanitized objects must not mix with plain ones.
set(LOKI_SANITIZE "" CACHE STRING "Sanitizers to build with: empty, address,undefined, or thread")
set_property(CACHE LOKI_SANITIZE PROPERTY STRINGS "" "address,undefined" "address" "undefined" "thread")
# compile_commands.json for scripts/clang-tidy.sh (the top-level file sets it too; harmless twice).
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)

if(LOKI_SANITIZE)
  string(REPLACE "," ";" _loki_san_list "${LOKI_SANITIZE}")
  foreach(_s IN LISTS _loki_san_list)
    if(NOT _s MATCHES "^(address|undefined|thread|leak)$")
      message(FATAL_ERROR "LOKI_SANITIZE: unknown sanitizer '${_s}' (address, undefined, thread, leak)")
    endif()
  endforeach()
  if("thread" IN_LIST _loki_san_list AND ("address" IN_LIST _loki_san_list OR "leak" IN_LIST _loki_san_list))
    message(FATAL_ERROR "LOKI_SANITIZE: thread cannot be combined with address/leak")
  endif()
  set(_loki_san_flags -fsanitize=${LOKI_SANITIZE} -fno-omit-frame-pointer)
  if("undefined" IN_LIST _loki_san_list)
    # Every UBSan report is fatal, so a test that triggers UB fails instead of printing and passing.
    list(APPEND _loki_san_flags -fno-sanitize-recover=undefined)
  endif()
  if("thread" IN_LIST _loki_san_list AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 -Wtsan: Boost.Asio's std_fenced_block uses std::atomic_thread_fence, which TSan does not model.
    # The warning is about Asio's headers, not our code, and with LOKI_WERROR it stops the build; Asio's
    # scheduler also synchronises through its mutex, which TSan does see. A race report that traces to a
    # fence-only hand-off inside Asio is to be suppressed (with a reason) in tests/sanitizers/tsan.supp.
    list(APPEND _loki_san_flags -Wno-tsan)
  endif()
  if("address" IN_LIST _loki_san_list AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 with -fsanitize=address reports -Wmaybe-uninitialized inside libstdc++'s <regex> (std::function in
    # _NFA::_M_insert_subexpr_*; GCC bug 105562): the instrumentation defeats the flow analysis. The plain build
    # keeps the warning (and -Werror), so nothing of ours goes unchecked.
    list(APPEND _loki_san_flags -Wno-maybe-uninitialized)
  endif()
  # CMAKE_CXX_FLAGS / CMAKE_*_LINKER_FLAGS as they stand at the end of the directory apply to every
  # target in it, including targets defined above this include and any added after it.
  list(JOIN _loki_san_flags " " _loki_san_str)
  string(APPEND CMAKE_CXX_FLAGS " ${_loki_san_str}")
  string(APPEND CMAKE_EXE_LINKER_FLAGS " ${_loki_san_str}")
  string(APPEND CMAKE_SHARED_LINKER_FLAGS " ${_loki_san_str}")
  string(APPEND CMAKE_MODULE_LINKER_FLAGS " ${_loki_san_str}")
  message(STATUS "loki-guard: sanitizers ${LOKI_SANITIZE} on ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")
endif()

# Under any sanitizer, a focused test binary of the HTTPS server (the multi-threaded part: I/O threads, sessions,
# certificate reload, metrics) that builds in a fraction of loki-unit-tests' time, which needs all of libloki:
#   cmake --preset tsan && cmake --build --preset tsan --target loki-webhook-server-tests
#   ctest --preset tsan -R san-webhook-server
if(LOKI_SANITIZE AND TARGET loki-webhook-server)
  add_executable(loki-webhook-server-tests
                 ${CMAKE_SOURCE_DIR}/tests/unit/main.cpp ${CMAKE_SOURCE_DIR}/tests/unit/test_webhook_server.cpp
                 ${CMAKE_SOURCE_DIR}/tests/unit/test_webhook_server_metrics.cpp)
  target_link_libraries(loki-webhook-server-tests PRIVATE loki-webhook-server doctest::doctest)
  add_test(NAME san-webhook-server COMMAND loki-webhook-server-tests)
  set_tests_properties(san-webhook-server PROPERTIES LABELS "unit;sanitizer" TIMEOUT 900)
endif()
