package etcd

import (
	"context"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Children implements registry.Registry. etcd has no directories: the
// children are the first path segments of the keys below the node.
func (c *Client) Children(ctx context.Context, p string) ([]string, error) {
	k, err := c.key(p)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	prefix := childPrefix(k)
	resp, err := c.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, c.convertError(err, p)
	}
	var names []string
	for _, kv := range resp.Kvs {
		name, _, _ := strings.Cut(string(kv.Key)[len(prefix):], "/")
		if name != "" && (len(names) == 0 || names[len(names)-1] != name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
