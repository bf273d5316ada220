// Package connect opens the registry backend a Config names. It is the one
// place that imports every backend.
package connect

import (
	"context"
	"fmt"

	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/embedded"
	"github.com/shardgate/shardgate/registry/etcd"
	"github.com/shardgate/shardgate/registry/zookeeper"
)

// Open validates cfg (after defaults) and connects to its registry.
func Open(ctx context.Context, cfg registry.Config) (registry.Registry, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate("registry"); err != nil {
		return nil, registry.NewError(registry.Invalid, "", err)
	}
	switch cfg.Type {
	case registry.TypeEmbedded:
		return embedded.Open(ctx, cfg)
	case registry.TypeEtcd:
		return etcd.Open(ctx, cfg)
	case registry.TypeZooKeeper:
		return zookeeper.Open(ctx, cfg)
	}
	return nil, registry.NewError(registry.Invalid, "", fmt.Errorf("registry.type: %q is not supported by this build", cfg.Type))
}
