//go:build tools

// Pins kubeconform (a peer of `loki-audit lint` in the benchmark) as a Go module
// dependency so bench/peers/build.sh can build it reproducibly.
package tools

import _ "github.com/yannh/kubeconform/cmd/kubeconform"
