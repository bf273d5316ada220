package etcd

import (
	"context"
	"errors"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/shardgate/shardgate/registry"
)

// Watch implements registry.Registry: list, then watch from the list's
// revision + 1. When etcd cannot resume the watch (compaction, lost leader,
// a cancelled stream) the subtree is listed again and sent as a new snapshot.
func (c *Client) Watch(ctx context.Context, p string) (<-chan registry.Event, error) {
	k, err := c.key(p)
	if err != nil {
		return nil, err
	}
	nodes, rev, err := c.snapshot(ctx, k)
	if err != nil {
		return nil, c.convertError(err, p)
	}
	ch := make(chan registry.Event)
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(ch)
		defer stop()
		defer cancel()
		c.watchLoop(wctx, ctx, p, k, nodes, rev, ch)
	}()
	return ch, nil
}

func (c *Client) snapshot(ctx context.Context, k string) ([]registry.Node, int64, error) {
	ctx, cancel := c.opCtx(ctx)
	defer cancel()
	resp, err := c.cli.Get(ctx, k, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	nodes := make([]registry.Node, 0, len(resp.Kvs))
	below := childPrefix(k)
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		if key == k || strings.HasPrefix(key, below) {
			nodes = append(nodes, registry.Node{Path: c.path(key), Value: kv.Value, Version: registry.Version(kv.ModRevision)})
		}
	}
	return nodes, resp.Header.Revision, nil
}

func (c *Client) watchLoop(wctx, callerCtx context.Context, p, k string, nodes []registry.Node, rev int64, ch chan<- registry.Event) {
	send := func(ev registry.Event) bool {
		select {
		case ch <- ev:
			return true
		case <-wctx.Done():
			return false
		}
	}
	below := childPrefix(k)
	if !send(registry.Event{Type: registry.EventSnapshot, Nodes: nodes}) {
		c.endWatch(callerCtx, p, ch)
		return
	}
	for {
		wch := c.cli.Watch(clientv3.WithRequireLeader(wctx), k, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for resp := range wch {
			if resp.Canceled || resp.Err() != nil || resp.CompactRevision != 0 {
				break
			}
			for _, ev := range resp.Events {
				key := string(ev.Kv.Key)
				if key != k && !strings.HasPrefix(key, below) {
					continue
				}
				out := registry.Event{Node: registry.Node{Path: c.path(key), Version: registry.Version(ev.Kv.ModRevision)}}
				if ev.Type == clientv3.EventTypeDelete {
					out.Type = registry.EventDelete
				} else {
					out.Type = registry.EventPut
					out.Value = ev.Kv.Value
				}
				if !send(out) {
					c.endWatch(callerCtx, p, ch)
					return
				}
			}
		}
		// The stream ended: resync with a full snapshot, retrying with backoff.
		for attempt := 0; ; attempt++ {
			if wctx.Err() != nil {
				c.endWatch(callerCtx, p, ch)
				return
			}
			var err error
			nodes, rev, err = c.snapshot(wctx, k)
			if err == nil {
				break
			}
			select {
			case <-time.After(c.cfg.Backoff(attempt)):
			case <-wctx.Done():
			}
		}
		if !send(registry.Event{Type: registry.EventSnapshot, Nodes: nodes}) {
			c.endWatch(callerCtx, p, ch)
			return
		}
	}
}

// endWatch sends the last event: the caller's context error, or ErrClosed.
func (c *Client) endWatch(callerCtx context.Context, p string, ch chan<- registry.Event) {
	err := callerCtx.Err()
	if err == nil {
		err = registry.NewError(registry.Closed, p, registry.ErrClosed)
	}
	ev := registry.Event{Type: registry.EventError, Err: err}
	if errors.Is(err, registry.ErrClosed) {
		// The client is closing: the reader may be gone, do not hang Close.
		select {
		case ch <- ev:
		case <-time.After(100 * time.Millisecond):
		}
		return
	}
	select {
	case ch <- ev:
	case <-c.ctx.Done():
	}
}
