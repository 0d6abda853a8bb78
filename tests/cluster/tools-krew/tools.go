//go:build tools

// Pins krew (its plugin-manifest validator and installer) as a Go module
// dependency so tests/cluster/build-tools.sh can build them for tests/krew/run.sh reproducibly.
package tools

import (
	_ "sigs.k8s.io/krew/cmd/krew"
	_ "sigs.k8s.io/krew/cmd/validate-krew-manifest"
)
