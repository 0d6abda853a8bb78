// Pins the openreports.io CRDs the background-audit tests install into the
// test API server (config/crd/ of the module; tests/cluster/reports-crds.sh).
module loki-guard/tests/cluster/tools-reports

go 1.22

require github.com/openreports/reports-api v0.2.1
