# libFuzzer targets (tests/fuzz/README.md). Does nothing unless -DLOKI_FUZZ=ON and the compiler is clang.
# CI and tests/fuzz/run.sh build them in the one sanitizer build, the CMakePresets.json preset `asan` (clang,
# ASan+UBSan, build-asan/): the libraries get libFuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link)
# on top of the sanitizers, only the fuzz executables link libFuzzer itself (-fsanitize=fuzzer), and the
# sanitizer suite's binaries link the same instrumented libraries (the ASan runtime defines the coverage
# callbacks as no-ops when libFuzzer is absent). So one compile of libloki serves both.
#   cmake --preset asan && cmake --build --preset asan --target loki-fuzzers
# (The regressions under tests/fuzz/regressions/ are also replayed by the unit tests of every build:
# tests/unit/test_fuzz_regressions.cpp.)
option(LOKI_FUZZ "Build the libFuzzer targets of tests/fuzz (clang only)" OFF)

if(LOKI_FUZZ AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  set(LOKI_FUZZ_TARGETS manifest admission selector kubeconfig mutate_patch)
  set(_loki_fuzz_dir ${CMAKE_SOURCE_DIR}/tests/fuzz)

  # As in cmake/sanitizers.cmake, CMAKE_CXX_FLAGS as it stands at the end of the directory applies to every
  # target in it, including those defined above this include. Without LOKI_SANITIZE the sanitizers come from
  # here (a fuzz-only build directory).
  set(_loki_fuzz_flags -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                       -fno-omit-frame-pointer)
  list(JOIN _loki_fuzz_flags " " _loki_fuzz_str)
  string(APPEND CMAKE_CXX_FLAGS " ${_loki_fuzz_str}")
  string(APPEND CMAKE_EXE_LINKER_FLAGS " -fsanitize=address,undefined")

  add_custom_target(loki-fuzzers)
  foreach(_t IN LISTS LOKI_FUZZ_TARGETS)
    add_executable(loki-fuzz-${_t} ${_loki_fuzz_dir}/fuzz_${_t}.cpp)
    target_link_libraries(loki-fuzz-${_t} PRIVATE loki loki-webhook-admission)
    target_include_directories(loki-fuzz-${_t} PRIVATE ${_loki_fuzz_dir})
    target_link_options(loki-fuzz-${_t} PRIVATE -fsanitize=fuzzer)
    add_dependencies(loki-fuzzers loki-fuzz-${_t})
    # Replay: every seed and every regression once (-runs=0 executes the inputs and stops), under the sanitizers.
    # libFuzzer exits on a directory that does not exist, and git keeps no empty one (a target without
    # regressions has no tests/fuzz/regressions/<target>/ in a fresh clone).
    set(_inputs)
    foreach(_d corpus regressions)
      if(EXISTS ${_loki_fuzz_dir}/${_d}/${_t})
        list(APPEND _inputs ${_loki_fuzz_dir}/${_d}/${_t})
      endif()
    endforeach()
    add_test(NAME fuzz-replay-${_t} COMMAND loki-fuzz-${_t} -runs=0 ${_inputs})
    set_tests_properties(fuzz-replay-${_t} PROPERTIES LABELS fuzz TIMEOUT 300)
  endforeach()
  message(STATUS "loki-guard: libFuzzer targets: ${LOKI_FUZZ_TARGETS}")
elseif(LOKI_FUZZ)
  message(WARNING "LOKI_FUZZ=ON needs clang (CXX=clang++); the fuzz targets are not built")
endif()
