package connect_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/connect"
)

func TestOpenErrorsAreNilInterfaces(t *testing.T) {
	for _, typ := range []string{registry.TypeEtcd, registry.TypeZooKeeper} {
		cfg := registry.Config{Type: typ, ServerLists: []string{"127.0.0.1:1"}, OperationTimeout: 500 * time.Millisecond}
		r, err := connect.Open(context.Background(), cfg)
		if err == nil || r != nil {
			t.Fatalf("%s: Open of an unreachable registry = %v, %v; want nil, error", typ, r, err)
		}
		if !errors.Is(err, registry.ErrUnavailable) && !errors.Is(err, registry.ErrTimeout) {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	_, err := connect.Open(context.Background(), registry.Config{Type: "consul"})
	if !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("unknown type: %v", err)
	}
}
