//go:build tools

// Package tools pins the etcd server program built by tests/cluster/build-tools.sh.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
