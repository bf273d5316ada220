package etcd

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shardgate/shardgate/registry"
)

// Get implements registry.Registry.
func (c *Client) Get(ctx context.Context, p string) ([]byte, registry.Version, error) {
	k, err := c.key(p)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	resp, err := c.cli.Get(ctx, k)
	if err != nil {
		return nil, 0, c.convertError(err, p)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, registry.NewError(registry.NotFound, p, nil)
	}
	kv := resp.Kvs[0]
	return kv.Value, registry.Version(kv.ModRevision), nil
}

// Put implements registry.Registry.
func (c *Client) Put(ctx context.Context, p string, value []byte) (registry.Version, error) {
	k, err := c.keyValue(p, value)
	if err != nil {
		return 0, err
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	resp, err := c.cli.Put(ctx, k, string(value))
	if err != nil {
		return 0, c.convertError(err, p)
	}
	return registry.Version(resp.Header.Revision), nil
}

// Create implements registry.Registry.
func (c *Client) Create(ctx context.Context, p string, value []byte) (registry.Version, error) {
	k, err := c.keyValue(p, value)
	if err != nil {
		return 0, err
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(value))).
		Commit()
	if err != nil {
		return 0, c.convertError(err, p)
	}
	if !resp.Succeeded {
		return 0, registry.NewError(registry.Exists, p, nil)
	}
	return registry.Version(resp.Header.Revision), nil
}

// CompareAndSet implements registry.Registry.
func (c *Client) CompareAndSet(ctx context.Context, p string, value []byte, v registry.Version) (registry.Version, error) {
	k, err := c.keyValue(p, value)
	if err != nil {
		return 0, err
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", int64(v))).
		Then(clientv3.OpPut(k, string(value))).
		Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return 0, c.convertError(err, p)
	}
	if !resp.Succeeded {
		if len(resp.Responses) == 0 || len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
			return 0, registry.NewError(registry.NotFound, p, nil)
		}
		return 0, registry.NewError(registry.BadVersion, p, fmt.Errorf("version %d is stale", v))
	}
	return registry.Version(resp.Header.Revision), nil
}

// Delete implements registry.Registry.
func (c *Client) Delete(ctx context.Context, p string, recursive bool) error {
	k, err := c.key(p)
	if err != nil {
		return err
	}
	c.forget(k, recursive)
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	below := childPrefix(k)
	if !recursive {
		resp, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(below).WithPrefix(), "=", 0)).
			Then(clientv3.OpDelete(k)).
			Commit()
		if err != nil {
			return c.convertError(err, p)
		}
		if !resp.Succeeded {
			return registry.NewError(registry.NotEmpty, p, nil)
		}
		if resp.Responses[0].GetResponseDeleteRange().Deleted == 0 {
			return registry.NewError(registry.NotFound, p, nil)
		}
		return nil
	}
	resp, err := c.cli.Txn(ctx).
		Then(clientv3.OpDelete(k), clientv3.OpDelete(below, clientv3.WithPrefix())).
		Commit()
	if err != nil {
		return c.convertError(err, p)
	}
	n := resp.Responses[0].GetResponseDeleteRange().Deleted + resp.Responses[1].GetResponseDeleteRange().Deleted
	if n == 0 {
		return registry.NewError(registry.NotFound, p, nil)
	}
	return nil
}

// childPrefix is the key prefix of everything below key.
func childPrefix(key string) string {
	if key == "/" {
		return "/"
	}
	return key + "/"
}
