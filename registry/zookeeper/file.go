package zookeeper

import (
	"context"
	"errors"
	"math"

	"github.com/go-zookeeper/zk"

	"github.com/shardgate/shardgate/registry"
)

// check validates a caller's path and, for writes, its value.
func check(p string, value []byte, write bool) error {
	if err := registry.CheckPath(p); err != nil {
		return err
	}
	if write {
		return registry.CheckValue(p, value)
	}
	return nil
}

// Get implements registry.Registry.
func (c *Client) Get(ctx context.Context, p string) ([]byte, registry.Version, error) {
	if err := check(p, nil, false); err != nil {
		return nil, 0, err
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	full := c.full(p)
	if c.hidden(full) {
		return nil, 0, registry.NewError(registry.NotFound, p, nil)
	}
	n, err := c.get(ctx, full)
	if err != nil {
		return nil, 0, err
	}
	return n.Value, n.Version, nil
}

// get reads one znode.
func (c *Client) get(ctx context.Context, full string) (registry.Node, error) {
	type res struct {
		data []byte
		st   *zk.Stat
	}
	r, err := do(c, ctx, c.rel(full), func(conn *zk.Conn) (res, error) {
		d, st, err := conn.Get(full)
		return res{d, st}, err
	})
	if err != nil {
		return registry.Node{}, err
	}
	return registry.Node{Path: c.rel(full), Value: nonNil(r.data), Version: registry.Version(r.st.Version)}, nil
}

// Put implements registry.Registry.
func (c *Client) Put(ctx context.Context, p string, value []byte) (registry.Version, error) {
	if err := check(p, value, true); err != nil {
		return 0, err
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	full := c.full(p)
	// Set first: most puts overwrite. On NoNode create, and if another
	// client created it meanwhile, set again.
	for {
		v, err := c.set(ctx, full, value, -1)
		if !errors.Is(err, registry.ErrNotFound) {
			return v, err
		}
		err = c.create(ctx, full, value, 0)
		if !errors.Is(err, registry.ErrExists) {
			return 0, err
		}
	}
}

// Create implements registry.Registry.
func (c *Client) Create(ctx context.Context, p string, value []byte) (registry.Version, error) {
	if err := check(p, value, true); err != nil {
		return 0, err
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	if err := c.create(ctx, c.full(p), value, 0); err != nil {
		return 0, err
	}
	return 0, nil // a new znode's data version is 0
}

// CompareAndSet implements registry.Registry.
func (c *Client) CompareAndSet(ctx context.Context, p string, value []byte, v registry.Version) (registry.Version, error) {
	if err := check(p, value, true); err != nil {
		return 0, err
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	full := c.full(p)
	if v < 0 || v > math.MaxInt32 {
		// No znode has such a version, and -1 would mean "any" to ZooKeeper.
		if _, err := c.get(ctx, full); err != nil {
			return 0, err
		}
		return 0, registry.NewError(registry.BadVersion, p, nil)
	}
	return c.set(ctx, full, value, int32(v))
}

func (c *Client) set(ctx context.Context, full string, value []byte, version int32) (registry.Version, error) {
	st, err := do(c, ctx, c.rel(full), func(conn *zk.Conn) (*zk.Stat, error) {
		return conn.Set(full, value, version)
	})
	if err != nil {
		return 0, err
	}
	return registry.Version(st.Version), nil
}

// create creates one znode with the given flags (0 or zk.FlagEphemeral),
// creating missing parents as persistent empty znodes.
func (c *Client) create(ctx context.Context, full string, value []byte, flags int32) error {
	if c.hidden(full) || full == "/" {
		return registry.NewError(registry.Invalid, c.rel(full), errors.New("reserved ZooKeeper node"))
	}
	try := func() error {
		_, err := do(c, ctx, c.rel(full), func(conn *zk.Conn) (string, error) {
			return conn.Create(full, value, flags, c.acl)
		})
		return err
	}
	err := try()
	if !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	if err := c.createParents(ctx, full); err != nil {
		return err
	}
	return try()
}

// Delete implements registry.Registry.
func (c *Client) Delete(ctx context.Context, p string, recursive bool) error {
	if err := check(p, nil, false); err != nil {
		return err
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	full := c.full(p)
	if full == "/" || c.hidden(full) {
		return registry.NewError(registry.Invalid, p, errors.New("cannot delete ZooKeeper's own nodes"))
	}
	// Owned ephemerals in the way are forgotten first, so the keeper does
	// not re-create them; they are remembered again if the delete fails.
	c.ephMu.Lock()
	defer c.ephMu.Unlock()
	dropped := c.untrack(full, recursive)
	var err error
	if recursive {
		err = c.deleteTree(ctx, full, true)
	} else {
		err = c.deleteOne(ctx, full)
	}
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		c.retrack(dropped)
	}
	return err
}

func (c *Client) deleteOne(ctx context.Context, full string) error {
	_, err := do(c, ctx, c.rel(full), func(conn *zk.Conn) (struct{}, error) {
		return struct{}{}, conn.Delete(full, -1)
	})
	return err
}

// deleteTree deletes full and everything below it, children first. Nodes
// that other clients add meanwhile are deleted too (NotEmpty → again), a
// few times: live owners write their ephemerals back, and then the subtree
// cannot go (ErrNotEmpty).
func (c *Client) deleteTree(ctx context.Context, full string, top bool) error {
	for attempt := 1; ; attempt++ {
		kids, err := c.children(ctx, full)
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := c.deleteTree(ctx, registry.Join(full, "/"+k), false); err != nil {
				return err
			}
		}
		err = c.deleteOne(ctx, full)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, registry.ErrNotFound):
			if top && len(kids) == 0 {
				return err
			}
			return nil
		case errors.Is(err, registry.ErrNotEmpty) && attempt < 5:
			continue
		default:
			return err
		}
	}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
