# Real-cluster tests (etcd + kube-apiserver + kube-controller-manager built from
# the pinned Go modules under tests/cluster/tools*; see tests/cluster/README.md).
#
#   include(tests/cluster/cluster.cmake)        # from the top-level CMakeLists.txt
#
# Registers the CTest fixture "cluster":
#   cluster-up     FIXTURES_SETUP   runs tests/cluster/up (first run builds the
#                  Kubernetes binaries from source: ~tens of minutes on 2 cores)
#   cluster-down   FIXTURES_CLEANUP runs tests/cluster/down
#   cluster-smoke  FIXTURES_REQUIRED runs tests/cluster/smoke.sh
# all labelled "cluster", with LOKI_CLUSTER_DIR=${CMAKE_BINARY_DIR}/cluster.
#
#   ctest -L cluster                 # up, smoke + every loki_add_cluster_test, down
#   ctest -LE cluster                # everything else
#
# Other tests join the fixture with
#   loki_add_cluster_test(<name> [COMMAND] <command> [args...]
#                         [WORKING_DIRECTORY <dir>] [TIMEOUT <seconds>]
#                         [ENVIRONMENT <VAR=value>...] [LABELS <label>...])
# The command runs through tests/cluster/with-cluster-env, so it sees
# KUBECONFIG, KUBECTL, LOKI_CLUSTER_SERVER, LOKI_CLUSTER_CA, ADMIN_TOKEN,
# RESTRICTED_TOKEN, LOKI_ADMIN_CERT/KEY ... (see $LOKI_CLUSTER_DIR/env), and the
# k8s bin dir is first in PATH. A first command word that names a CMake target
# is replaced by $<TARGET_FILE:...>, as add_test() does.

option(LOKI_CLUSTER_TESTS "Register the real Kubernetes cluster tests (label: cluster)" ON)

set(LOKI_CLUSTER_SCRIPTS_DIR "${CMAKE_SOURCE_DIR}/tests/cluster")
set(LOKI_CLUSTER_DIR "${CMAKE_BINARY_DIR}/cluster" CACHE PATH
    "State dir (certs, etcd data, logs, kubeconfigs) of the CTest cluster")

function(loki_add_cluster_test name)
  if(NOT LOKI_CLUSTER_TESTS)
    return()
  endif()
  set(args ${ARGN})
  list(LENGTH args n)
  if(n GREATER 0)
    list(GET args 0 first)
    if(first STREQUAL "COMMAND")
      list(REMOVE_AT args 0)
    endif()
  endif()
  # The words that are not keyword arguments form the command.
  cmake_parse_arguments(LCT "" "WORKING_DIRECTORY;TIMEOUT" "ENVIRONMENT;LABELS" ${args})
  set(cmd ${LCT_UNPARSED_ARGUMENTS})
  if(NOT cmd)
    message(FATAL_ERROR "loki_add_cluster_test(${name}): no command given")
  endif()
  list(GET cmd 0 exe)
  if(TARGET "${exe}")
    list(REMOVE_AT cmd 0)
    list(PREPEND cmd "$<TARGET_FILE:${exe}>")
  endif()
  if(NOT LCT_WORKING_DIRECTORY)
    set(LCT_WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}")
  endif()
  add_test(NAME ${name}
           COMMAND "${LOKI_CLUSTER_SCRIPTS_DIR}/with-cluster-env" ${cmd}
           WORKING_DIRECTORY "${LCT_WORKING_DIRECTORY}")
  if(NOT LCT_TIMEOUT)
    set(LCT_TIMEOUT 600)
  endif()
  set(labels cluster ${LCT_LABELS})
  set(env "LOKI_CLUSTER_DIR=${LOKI_CLUSTER_DIR}" ${LCT_ENVIRONMENT})
  set_tests_properties(${name} PROPERTIES
    FIXTURES_REQUIRED cluster
    LABELS "${labels}"
    TIMEOUT ${LCT_TIMEOUT}
    ENVIRONMENT "${env}")
endfunction()

if(LOKI_CLUSTER_TESTS)
  add_test(NAME cluster-up
           COMMAND "${LOKI_CLUSTER_SCRIPTS_DIR}/up"
           WORKING_DIRECTORY "${CMAKE_BINARY_DIR}")
  set_tests_properties(cluster-up PROPERTIES
    FIXTURES_SETUP cluster
    LABELS cluster
    TIMEOUT 3600
    ENVIRONMENT "LOKI_CLUSTER_DIR=${LOKI_CLUSTER_DIR}")

  add_test(NAME cluster-down
           COMMAND "${LOKI_CLUSTER_SCRIPTS_DIR}/down"
           WORKING_DIRECTORY "${CMAKE_BINARY_DIR}")
  set_tests_properties(cluster-down PROPERTIES
    FIXTURES_CLEANUP cluster
    LABELS cluster
    TIMEOUT 120
    ENVIRONMENT "LOKI_CLUSTER_DIR=${LOKI_CLUSTER_DIR}")

  add_test(NAME cluster-smoke
           COMMAND "${LOKI_CLUSTER_SCRIPTS_DIR}/smoke.sh"
           WORKING_DIRECTORY "${CMAKE_BINARY_DIR}")
  set_tests_properties(cluster-smoke PROPERTIES
    FIXTURES_REQUIRED cluster
    LABELS cluster
    TIMEOUT 300
    ENVIRONMENT "LOKI_CLUSTER_DIR=${LOKI_CLUSTER_DIR}")
endif()
