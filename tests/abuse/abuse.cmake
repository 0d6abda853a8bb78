# loki-webhook under abuse (tests/abuse/README.md): slowloris, slow body, connection flood, oversized and
# pathological bodies, broken TLS, plaintext, each beside a well-formed 200 reviews/s client; an RSS leak check
# and secrets-in-logs check. Label "abuse" (default suite, ~3 min, RUN_SERIAL: they measure latency and RSS).
# The 1M-review soak has label "soak" and is DISABLED unless configured with -DLOKI_SOAK=ON, because CI runs
# plain `ctest` (no label filter): cmake -DLOKI_SOAK=ON build && ctest --test-dir build -L soak
option(LOKI_SOAK "Enable the webhook soak test (label soak, 1M reviews, ~10 min)" OFF)
if(TARGET loki-webhook AND TARGET loki-webhook-load)
  set(_abuse ${CMAKE_SOURCE_DIR}/tests/abuse/run.sh $<TARGET_FILE_DIR:loki-webhook>)
  add_test(NAME webhook-abuse-secrets COMMAND ${_abuse} secrets)
  set_tests_properties(webhook-abuse-secrets PROPERTIES LABELS abuse TIMEOUT 60 SKIP_RETURN_CODE 77)
  # Latency and RSS bounds mean nothing under ASan/TSan: only the log check runs in sanitizer builds.
  if(NOT LOKI_SANITIZE)
    add_test(NAME webhook-abuse-attacks COMMAND ${_abuse} attacks)
    add_test(NAME webhook-abuse-leak COMMAND ${_abuse} leak --reviews 100000)
    # Certificate rotation (good, mismatched, expired, good) under 1,000 reviews/s with a handshake every 40.
    add_test(NAME webhook-cert-rotation COMMAND ${_abuse} rotation)
    set_tests_properties(webhook-abuse-attacks webhook-abuse-leak webhook-cert-rotation PROPERTIES LABELS abuse TIMEOUT 300 RUN_SERIAL TRUE
                                                                             SKIP_RETURN_CODE 77)
    add_test(NAME webhook-soak COMMAND ${_abuse} leak --reviews 1000000)
    if(LOKI_SOAK)
      set(_soak_disabled FALSE)
    else()
      set(_soak_disabled TRUE)
    endif()
    set_tests_properties(webhook-soak PROPERTIES LABELS soak TIMEOUT 3600 RUN_SERIAL TRUE SKIP_RETURN_CODE 77
                                                 DISABLED ${_soak_disabled})
  endif()
endif()
