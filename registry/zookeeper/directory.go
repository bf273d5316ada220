package zookeeper

import (
	"context"
	"errors"
	"slices"

	"github.com/go-zookeeper/zk"

	"github.com/shardgate/shardgate/registry"
)

// Children implements registry.Registry.
func (c *Client) Children(ctx context.Context, p string) ([]string, error) {
	if err := check(p, nil, false); err != nil {
		return nil, err
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	return c.children(ctx, c.full(p))
}

// children lists a znode's children, sorted; none if it is absent.
func (c *Client) children(ctx context.Context, full string) ([]string, error) {
	if c.hidden(full) {
		return []string{}, nil
	}
	kids, err := do(c, ctx, c.rel(full), func(conn *zk.Conn) ([]string, error) {
		k, _, err := conn.Children(full)
		return k, err
	})
	if errors.Is(err, registry.ErrNotFound) {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	return c.visible(full, kids), nil
}

// visible sorts kids and drops ZooKeeper's own /zookeeper.
func (c *Client) visible(full string, kids []string) []string {
	out := make([]string, 0, len(kids))
	for _, k := range kids {
		if !c.hidden(registry.Join(full, "/"+k)) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// createParents creates the missing ancestors of full as empty persistent
// znodes, nearest first and climbing only as far as needed. Ancestors above
// the namespace are shared with other namespaces and get an open ACL; the
// namespace and below get the client's ACL.
func (c *Client) createParents(ctx context.Context, full string) error {
	dir := registry.Parent(full)
	if dir == "/" {
		return nil
	}
	acl := c.acl
	if len(dir) < len(c.root) {
		acl = zk.WorldACL(zk.PermAll)
	}
	try := func() error {
		_, err := do(c, ctx, c.rel(dir), func(conn *zk.Conn) (string, error) {
			return conn.Create(dir, nil, 0, acl)
		})
		if errors.Is(err, registry.ErrExists) {
			return nil
		}
		return err
	}
	err := try()
	if !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	if err := c.createParents(ctx, dir); err != nil {
		return err
	}
	return try()
}
