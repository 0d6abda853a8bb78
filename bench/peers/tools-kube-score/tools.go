//go:build tools

// Pins kube-score (a peer of `loki-audit lint` in the benchmark) as a Go module
// dependency so bench/peers/build.sh can build it reproducibly.
package tools

import _ "github.com/zegl/kube-score/cmd/kube-score"
