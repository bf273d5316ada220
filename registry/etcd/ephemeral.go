package etcd

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shardgate/shardgate/registry"
)

// ephemeral is one node owned by this client's session.
type ephemeral struct {
	value []byte             // last value seen, written by anyone
	stop  context.CancelFunc // ends the key's watch
}

// PutEphemeral implements registry.Registry.
func (c *Client) PutEphemeral(ctx context.Context, p string, value []byte) error {
	k, err := c.keyValue(p, value)
	if err != nil {
		return err
	}
	c.mu.Lock()
	e := c.owned[k]
	if e == nil {
		wctx, stop := context.WithCancel(c.ctx)
		e = &ephemeral{stop: stop}
		c.owned[k] = e
		c.wg.Add(1)
		go c.guard(wctx, k)
	}
	e.value = bytes.Clone(value)
	lease := c.lease
	c.mu.Unlock()

	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	if _, err := c.cli.Put(ctx, k, string(value), clientv3.WithLease(lease)); err != nil {
		// The node stays owned: a new session writes it again.
		return c.convertError(err, p)
	}
	return nil
}

// CreateEphemeral implements registry.Registry: a put on the session's
// lease in a transaction that requires the key to be absent. The key is not
// in c.owned, so neither the guard nor a new session writes it again.
func (c *Client) CreateEphemeral(ctx context.Context, p string, value []byte) error {
	k, err := c.keyValue(p, value)
	if err != nil {
		return err
	}
	c.mu.Lock()
	lease := c.lease
	c.mu.Unlock()
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	resp, err := c.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(value), clientv3.WithLease(lease))).
		Commit()
	if err != nil {
		return c.convertError(err, p)
	}
	if !resp.Succeeded {
		return registry.NewError(registry.Exists, p, nil)
	}
	return nil
}

// forget stops owning k (and, if recursive, everything below it).
func (c *Client) forget(k string, recursive bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	below := childPrefix(k)
	for key, e := range c.owned {
		if key == k || (recursive && strings.HasPrefix(key, below)) {
			e.stop()
			delete(c.owned, key)
		}
	}
}

// guard watches one ephemeral key. It remembers values that others write,
// re-attaches the key to the lease when a plain put detached it, and writes
// it again (empty) when someone else deleted it while the session lives.
func (c *Client) guard(ctx context.Context, k string) {
	defer c.wg.Done()
	for ctx.Err() == nil {
		for resp := range c.cli.Watch(ctx, k, clientv3.WithPrevKV()) {
			for _, ev := range resp.Events {
				c.onEphemeralEvent(ctx, k, ev)
			}
		}
		select { // the stream broke; the session loop covers the gap
		case <-ctx.Done():
		case <-time.After(c.cfg.RetryInterval):
		}
	}
}

func (c *Client) onEphemeralEvent(ctx context.Context, k string, ev *clientv3.Event) {
	c.mu.Lock()
	e, owned := c.owned[k]
	lease := c.lease
	if owned && ev.Type == clientv3.EventTypePut {
		e.value = bytes.Clone(ev.Kv.Value)
	}
	c.mu.Unlock()
	if !owned {
		return
	}
	octx, cancel := c.opCtx(ctx)
	defer cancel()
	switch {
	case ev.Type == clientv3.EventTypePut && clientv3.LeaseID(ev.Kv.Lease) != lease:
		// Detached (etcdctl put) or bound to another lease: take it back,
		// keeping the value, unless it changed again meanwhile.
		_, err := c.cli.Txn(octx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", ev.Kv.ModRevision)).
			Then(clientv3.OpPut(k, string(ev.Kv.Value), clientv3.WithLease(lease))).
			Commit()
		if err != nil && ctx.Err() == nil {
			slog.Warn("registry: re-attaching ephemeral key to its lease failed", "key", k, "err", err)
		} else if err == nil {
			slog.Info("registry: ephemeral key was detached from its lease by a plain put; re-attached", "key", k, "value", string(ev.Kv.Value))
		}
	case ev.Type == clientv3.EventTypeDelete:
		if ev.PrevKv != nil && ev.PrevKv.Lease != 0 && clientv3.LeaseID(ev.PrevKv.Lease) != lease {
			return // an old lease expired: the session loop writes the node again
		}
		ttl, err := c.cli.TimeToLive(octx, lease)
		if err != nil || ttl.TTL <= 0 {
			return // the lease is gone: the session loop writes the node again
		}
		c.mu.Lock()
		if e, still := c.owned[k]; still {
			e.value = nil
		}
		c.mu.Unlock()
		_, err = c.cli.Txn(octx).
			If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, "", clientv3.WithLease(lease))).
			Commit()
		if err != nil && ctx.Err() == nil {
			slog.Warn("registry: re-creating a deleted ephemeral key failed", "key", k, "err", err)
		}
	}
}

// keepSession renews the lease and replaces it when it is lost.
func (c *Client) keepSession(ka <-chan *clientv3.LeaseKeepAliveResponse) {
	defer c.wg.Done()
	for {
		c.followKeepAlive(ka)
		if c.ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.setStateLocked(registry.SessionState{Generation: c.state.Generation,
			Err: registry.NewError(registry.SessionLost, "", fmt.Errorf("etcd lease %x expired", c.lease))})
		c.mu.Unlock()
		slog.Warn("registry: etcd lease lost; re-creating the session", "endpoints", c.endpoints)
		var ok bool
		if ka, ok = c.renewSession(); !ok {
			return
		}
	}
}

// followKeepAlive drains keep-alive responses until the channel closes,
// which it does when the lease expired or was revoked. It also tracks
// whether the server answers.
func (c *Client) followKeepAlive(ka <-chan *clientv3.LeaseKeepAliveResponse) {
	period := max(c.cfg.TimeToLive/3, 100*time.Millisecond)
	tick := time.NewTicker(period)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case resp, ok := <-ka:
			if !ok {
				return
			}
			if resp != nil {
				last = time.Now()
				c.setConnected(true, nil)
			}
		case <-tick.C:
			if time.Since(last) > 2*period {
				c.setConnected(false, registry.NewError(registry.Unavailable, "", fmt.Errorf("etcd %v: no keep-alive answer for %s", c.endpoints, time.Since(last).Round(time.Millisecond))))
			}
		}
	}
}

func (c *Client) setConnected(up bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || (c.state.Connected == up && (up || c.state.Err != nil)) {
		return
	}
	c.setStateLocked(registry.SessionState{Connected: up, Generation: c.state.Generation, Err: err})
}

// renewSession grants a new lease, writes every owned node again with its
// last value and publishes the new generation. It retries with backoff
// until it succeeds or the client closes.
func (c *Client) renewSession() (<-chan *clientv3.LeaseKeepAliveResponse, bool) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-c.ctx.Done():
				return nil, false
			case <-time.After(c.cfg.Backoff(attempt - 1)):
			}
		}
		ctx, cancel := c.opCtx(c.ctx)
		lease, err := c.cli.Grant(ctx, ttlSeconds(c.cfg))
		cancel()
		if err != nil {
			if c.ctx.Err() != nil {
				return nil, false
			}
			continue
		}
		ka, err := c.cli.KeepAlive(c.ctx, lease.ID)
		if err != nil {
			continue
		}
		c.mu.Lock()
		c.lease = lease.ID
		values := make(map[string][]byte, len(c.owned))
		for k, e := range c.owned {
			values[k] = e.value
		}
		c.mu.Unlock()
		if err := c.rewrite(lease.ID, values); err != nil {
			slog.Warn("registry: re-creating ephemeral nodes failed; retrying", "err", err)
			rctx, cancel := c.opCtx(c.ctx)
			c.cli.Revoke(rctx, lease.ID)
			cancel()
			continue
		}
		c.mu.Lock()
		c.setStateLocked(registry.SessionState{Connected: true, Generation: c.state.Generation + 1})
		c.mu.Unlock()
		slog.Info("registry: new etcd session; ephemeral nodes re-created", "nodes", len(values))
		return ka, true
	}
}

// rewrite binds every owned key to the new lease. A key that still exists
// (an operator's plain put detached it from the old lease, so it outlived
// it) keeps its current value: the registry is newer than our memory of it.
// An absent key is written with its last known value.
func (c *Client) rewrite(lease clientv3.LeaseID, values map[string][]byte) error {
	for k, v := range values {
		for {
			ctx, cancel := c.opCtx(c.ctx)
			cur, err := c.cli.Get(ctx, k)
			var resp *clientv3.TxnResponse
			if err == nil {
				if len(cur.Kvs) > 0 {
					kv := cur.Kvs[0]
					resp, err = c.cli.Txn(ctx).
						If(clientv3.Compare(clientv3.ModRevision(k), "=", kv.ModRevision)).
						Then(clientv3.OpPut(k, string(kv.Value), clientv3.WithLease(lease))).
						Commit()
				} else {
					resp, err = c.cli.Txn(ctx).
						If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
						Then(clientv3.OpPut(k, string(v), clientv3.WithLease(lease))).
						Commit()
				}
			}
			cancel()
			if err != nil {
				return c.convertError(err, c.path(k))
			}
			if resp.Succeeded {
				break
			}
			// Changed meanwhile: look again.
		}
	}
	return nil
}
