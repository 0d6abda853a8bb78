//go:build tools

// Pins kubectl-kyverno (a peer of `loki-audit lint` in the benchmark) as a Go module
// dependency so bench/peers/build.sh can build it reproducibly.
package tools

import _ "github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno"
