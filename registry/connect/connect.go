// Package connect opens the registry backend a Config names. It is the one
// place that imports every backend.
package connect

import (
	"context"
	"fmt"

	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/embedded"
	"github.com/shardgate/shardgate/registry/etcd"
	"github.com/shardgate/shardgate/registry/memory"
	"github.com/shardgate/shardgate/registry/zookeeper"
)

// Open validates cfg (after defaults) and connects to its registry.
func Open(ctx context.Context, cfg registry.Config) (registry.Registry, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.LoadCredential(); err != nil {
		return nil, registry.NewError(registry.Invalid, "", err)
	}
	if err := cfg.Validate("registry"); err != nil {
		return nil, registry.NewError(registry.Invalid, "", err)
	}
	// Each branch returns a nil interface on error, never a typed nil.
	switch cfg.Type {
	case registry.TypeEmbedded:
		if r, err := embedded.Open(ctx, cfg); err == nil {
			return r, nil
		} else {
			return nil, err
		}
	case registry.TypeEtcd:
		if r, err := etcd.Open(ctx, cfg); err == nil {
			return r, nil
		} else {
			return nil, err
		}
	case registry.TypeZooKeeper:
		if r, err := zookeeper.Open(ctx, cfg); err == nil {
			return r, nil
		} else {
			return nil, err
		}
	case registry.TypeMemory:
		return memory.Open(ctx, cfg)
	}
	return nil, registry.NewError(registry.Invalid, "", fmt.Errorf("registry.type: %q is not supported", cfg.Type))
}
