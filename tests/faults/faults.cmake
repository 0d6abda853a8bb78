# Fault tests of loki-webhook against the real API server (label: faults).
#   include(tests/faults/faults.cmake)     # from the top-level CMakeLists.txt
#
# faults-apiserver-restart  stops and restarts kube-apiserver, so it runs on a
#   cluster of its own (state ${CMAKE_BINARY_DIR}/faults-cluster, free loopback
#   ports), started and removed by the script; never the shared CTest cluster.
#   It joins the "cluster" fixture only to run after cluster-up (which builds
#   the Kubernetes binaries on a first run).
# faults-rolling-restart  restarts two webhook replicas behind a loopback
#   balancer; the API server is untouched, so it uses the shared cluster.
#
#   ctest -L faults
if(NOT LOKI_CLUSTER_TESTS)
  return()
endif()

add_test(NAME faults-apiserver-restart
         COMMAND ${CMAKE_SOURCE_DIR}/tests/faults/apiserver_restart.sh $<TARGET_FILE:loki-webhook>
         WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
set_tests_properties(faults-apiserver-restart PROPERTIES
  FIXTURES_REQUIRED cluster
  LABELS "cluster;faults"
  TIMEOUT 600
  # LOKI_CLUSTER_DIR (the shared one) only so that the script refuses to use it.
  ENVIRONMENT "LOKI_FAULTS_CLUSTER_DIR=${CMAKE_BINARY_DIR}/faults-cluster;LOKI_CLUSTER_DIR=${LOKI_CLUSTER_DIR}")

loki_add_cluster_test(faults-rolling-restart ${CMAKE_SOURCE_DIR}/tests/faults/rolling_restart.sh
                      $<TARGET_FILE:loki-webhook> TIMEOUT 300 LABELS faults)
