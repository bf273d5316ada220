package zookeeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/go-zookeeper/zk"

	"github.com/shardgate/shardgate/registry"
)

// ephemeral is an ephemeral znode this client owns, with the last value it
// saw there: its own writes and, through a data watch, other clients'
// (an operator's "set … DISABLED"). A new session re-creates it with that
// value, so the operator's decision survives the session.
type ephemeral struct {
	value []byte
	mzxid int64 // zxid of that value; older reads never overwrite it
	sid   int64 // session the node was last seen in
}

// PutEphemeral implements registry.Registry. A node already at the path is
// taken over: if it belongs to another session or is persistent, it is
// replaced by this client's ephemeral. If someone else deletes the node
// while the session lives, the client writes it again, empty: deleting a
// DISABLED node undoes the DISABLED (DESIGN §3), like on etcd.
func (c *Client) PutEphemeral(ctx context.Context, p string, value []byte) error {
	if err := check(p, value, true); err != nil {
		return err
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	full := c.full(p)
	c.ephMu.Lock()
	defer c.ephMu.Unlock()
	data, mzxid, sid, err := c.ensureEphemeral(ctx, full, value, false, 0)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.eph[full] = &ephemeral{value: data, mzxid: mzxid, sid: sid}
	c.mu.Unlock()
	return nil
}

// CreateEphemeral implements registry.Registry: an ephemeral znode created
// with the session, not kept by the keeper (a new session does not write it
// again).
func (c *Client) CreateEphemeral(ctx context.Context, p string, value []byte) error {
	if err := check(p, value, true); err != nil {
		return err
	}
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	return c.create(ctx, c.full(p), value, zk.FlagEphemeral)
}

// ensureEphemeral makes full an ephemeral znode of the current session and
// arms a data watch on it. With keep (the keeper), a node that is already
// this session's keeps its value, and a missing one is written with value
// if it vanished with session lastSID, or empty if it was deleted under the
// current session. Without keep, the node is set to value. It returns the
// value now stored, its zxid and the session. Callers hold ephMu.
func (c *Client) ensureEphemeral(ctx context.Context, full string, value []byte, keep bool, lastSID int64) ([]byte, int64, int64, error) {
	rel := c.rel(full)
	type res struct {
		data []byte
		st   *zk.Stat
		sid  int64
	}
	for range 5 {
		r, err := do(c, ctx, rel, func(conn *zk.Conn) (res, error) {
			d, st, _, err := conn.GetW(full)
			return res{d, st, conn.SessionID()}, err
		})
		switch {
		case errors.Is(err, registry.ErrNotFound):
			v := value
			if keep && lastSID == c.conn.SessionID() {
				v = nil
				slog.Info("registry: owned ephemeral node deleted by another client; writing it again, empty", "path", full)
			}
			err = c.create(ctx, full, v, zk.FlagEphemeral)
			if err != nil && !errors.Is(err, registry.ErrExists) {
				return nil, 0, 0, err
			}
		case err != nil:
			return nil, 0, 0, err
		case r.st.EphemeralOwner != r.sid:
			// Someone else's node (or a persistent one): the path is ours.
			_, err := do(c, ctx, rel, func(conn *zk.Conn) (struct{}, error) {
				return struct{}{}, conn.Delete(full, r.st.Version)
			})
			if err != nil && !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrBadVersion) {
				return nil, 0, 0, err
			}
			lastSID = 0 // what comes back is a re-creation, not a delete
			if keep {
				value = nonNil(r.data) // keep the value the other client wrote
			}
		case keep || bytes.Equal(r.data, value):
			return nonNil(r.data), r.st.Mzxid, r.sid, nil
		default:
			st, err := do(c, ctx, rel, func(conn *zk.Conn) (*zk.Stat, error) {
				return conn.Set(full, value, r.st.Version)
			})
			if err == nil {
				return bytes.Clone(nonNil(value)), st.Mzxid, r.sid, nil
			}
			if !errors.Is(err, registry.ErrBadVersion) {
				return nil, 0, 0, err
			}
		}
	}
	return nil, 0, 0, registry.NewError(registry.Unavailable, rel, fmt.Errorf("ephemeral node keeps changing under us"))
}

// keepEphemerals is the goroutine that repairs owned ephemerals: it adopts
// values others write, re-creates nodes that vanished and, after a new
// session, re-creates them all and then bumps the session generation.
func (c *Client) keepEphemerals() {
	defer c.workers.Done()
	pendingGen := false
	for {
		select {
		case <-c.ephSig:
		case <-c.ctx.Done():
			return
		}
		for failures := 0; ; {
			c.mu.Lock()
			if c.newGen {
				c.newGen, pendingGen = false, true
				for p := range c.eph {
					c.dirty[p] = true
				}
			}
			paths := make([]string, 0, len(c.dirty))
			for p := range c.dirty {
				paths = append(paths, p)
			}
			clear(c.dirty)
			if len(paths) == 0 {
				if c.state.Connected && c.state.Err != nil {
					c.state.Err = nil // the repair error is over
					c.broadcastLocked()
				}
				if pendingGen {
					pendingGen = false
					c.state.Generation++
					c.broadcastLocked()
					slog.Info("registry: new ZooKeeper session; ephemeral nodes re-created",
						"session", fmt.Sprintf("0x%x", c.sessionID), "nodes", len(c.eph), "generation", c.state.Generation)
				}
				c.mu.Unlock()
				break
			}
			wake := c.stateCh
			c.mu.Unlock()
			failed := false
			for _, p := range paths {
				if err := c.syncEphemeral(p); err != nil {
					if c.ctx.Err() != nil {
						return
					}
					slog.Warn("registry: repairing an ephemeral node failed; retrying", "path", p, "err", err)
					c.reportRepairError(err)
					failed = true
					c.mu.Lock()
					if _, ok := c.eph[p]; ok {
						c.dirty[p] = true
					}
					c.mu.Unlock()
				}
			}
			if !failed {
				failures = 0
				continue
			}
			failures++
			if !c.backoff(failures, wake) {
				return
			}
		}
	}
}

// syncEphemeral checks one owned ephemeral against the server.
func (c *Client) syncEphemeral(full string) error {
	c.ephMu.Lock()
	defer c.ephMu.Unlock()
	c.mu.Lock()
	e := c.eph[full]
	var last []byte
	var sid int64
	if e != nil {
		last, sid = e.value, e.sid
	}
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	ctx, cancel := c.opCtx(c.ctx)
	defer cancel()
	data, mzxid, sid, err := c.ensureEphemeral(ctx, full, last, true, sid)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.eph[full] == e && mzxid > e.mzxid {
		e.value, e.mzxid, e.sid = data, mzxid, sid
	}
	c.mu.Unlock()
	return nil
}

// kickLocked wakes the keeper. Callers hold mu.
func (c *Client) kickLocked() {
	select {
	case c.ephSig <- struct{}{}:
	default:
	}
}

// untrack forgets the owned ephemerals at full (and below, if recursive).
func (c *Client) untrack(full string, recursive bool) map[string]*ephemeral {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]*ephemeral)
	for p, e := range c.eph {
		if p == full || (recursive && within(p, full)) {
			out[p] = e
			delete(c.eph, p)
			delete(c.dirty, p)
		}
	}
	return out
}

// retrack remembers ephemerals again after a failed delete.
func (c *Client) retrack(m map[string]*ephemeral) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, e := range m {
		if _, ok := c.eph[p]; !ok {
			c.eph[p] = e
			c.dirty[p] = true
		}
	}
	c.kickLocked()
}

// lastValue returns the value the client would re-create full with.
func (c *Client) lastValue(full string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.eph[full]
	if !ok {
		return nil, false
	}
	return bytes.Clone(e.value), true
}

// reportRepairError puts a failed repair in SessionState.Err while the
// session is up, so that the owner learns its node is not (yet) back.
func (c *Client) reportRepairError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.state.Connected || c.closed {
		return
	}
	if c.state.Err != nil && c.state.Err.Error() == err.Error() {
		return
	}
	c.state.Err = err
	c.broadcastLocked()
}
