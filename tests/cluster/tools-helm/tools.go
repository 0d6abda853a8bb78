//go:build tools

// Pins helm (the chart tests' `helm lint/template/install`) as a Go module
// dependency so tests/cluster/build-tools.sh can build it reproducibly.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
