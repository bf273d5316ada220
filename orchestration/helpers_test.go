package orchestration_test

import (
	"context"
	"time"

	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/etcd"
)

func etcdOpen(endpoint, root string) (registry.Registry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return etcd.Open(ctx, registry.Config{Type: registry.TypeEtcd, ServerLists: []string{endpoint}, Namespace: root})
}
