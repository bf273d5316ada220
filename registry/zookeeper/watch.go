package zookeeper

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/shardgate/shardgate/registry"
)

// watchBuffer lets a consumer that reads late still find the final
// EventError after Close.
const watchBuffer = 64

// subscriber receives the node events of one subtree from the dispatcher.
type subscriber struct {
	prefix string
	sig    chan struct{} // capacity 1
	mu     sync.Mutex
	q      []zk.Event
}

func (s *subscriber) push(ev zk.Event) {
	s.mu.Lock()
	s.q = append(s.q, ev)
	s.mu.Unlock()
	select {
	case s.sig <- struct{}{}:
	default:
	}
}

func (s *subscriber) take() []zk.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.q
	s.q = nil
	return q
}

// wnode is a watched znode as last seen; every one has a data watch and a
// child watch armed.
type wnode struct {
	value   []byte
	version int32
}

// watcher keeps a mirror of one subtree. ZooKeeper watches fire once, so
// each event re-arms the watch it consumed while re-reading the node; any
// doubt (a failed read, a reconnect, a new session) leads to a full re-read
// and a new snapshot.
type watcher struct {
	c     *Client
	ctx   context.Context
	root  string // znode path of the watched subtree
	sub   *subscriber
	out   chan registry.Event
	nodes map[string]*wnode
	epoch uint64 // session epoch of the last snapshot
}

// settleAfter is when the second full read after a new session runs.
const settleAfter = time.Second

// errStopped ends a watch step because the watch's context or the client ended.
var errStopped = errors.New("watch stopped")

// Watch implements registry.Registry.
func (c *Client) Watch(ctx context.Context, p string) (<-chan registry.Event, error) {
	if err := check(p, nil, false); err != nil {
		return nil, err
	}
	full := c.full(p)
	w := &watcher{
		c:    c,
		ctx:  ctx,
		root: full,
		sub:  &subscriber{prefix: full, sig: make(chan struct{}, 1)},
		out:  make(chan registry.Event, watchBuffer),
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, registry.NewError(registry.Closed, p, nil)
	}
	// Subscribe before the first read so no event between them is lost.
	c.subs[w.sub] = struct{}{}
	c.workers.Add(1)
	w.epoch = c.epoch
	c.mu.Unlock()
	snap, err := w.snapshot()
	if err != nil {
		w.unsubscribe()
		c.workers.Done()
		return nil, err
	}
	w.out <- snap
	go w.run()
	return w.out, nil
}

func (w *watcher) unsubscribe() {
	w.c.mu.Lock()
	delete(w.c.subs, w.sub)
	w.c.mu.Unlock()
}

func (w *watcher) run() {
	defer w.c.workers.Done()
	defer close(w.out)
	defer w.unsubscribe()
	resync := false
	failures := 0
	// settle: one more full read a moment after a resync for a new
	// session. Watches armed while the client was still settling into
	// that session have, rarely, missed events (seen once in
	// TestWatchConverges under load); the second read repairs the view.
	var settle <-chan time.Time
	sessionResync := false
	for {
		if w.ctx.Err() != nil || w.c.ctx.Err() != nil {
			w.finish()
			return
		}
		epoch, connected, changed := w.c.sessionEpoch()
		if epoch != w.epoch {
			resync, sessionResync = true, true
		}
		var retry <-chan time.Time
		if resync && connected {
			snap, err := w.snapshot()
			if err == nil {
				resync, failures, w.epoch = false, 0, epoch
				if sessionResync {
					sessionResync, settle = false, time.After(settleAfter)
				}
				w.send(snap)
				continue
			}
			failures++
			retry = time.After(w.c.cfg.Backoff(failures))
		}
		select {
		case <-w.sub.sig:
			if resync {
				w.sub.take() // the next snapshot covers them
				continue
			}
			for _, ev := range w.sub.take() {
				if err := w.handle(ev); err != nil {
					resync = true
					break
				}
			}
		case <-changed:
		case <-settle:
			settle, resync = nil, true
		case <-retry:
		case <-w.ctx.Done():
		case <-w.c.ctx.Done():
		}
	}
}

// finish sends the last event, which says why the watch ended.
func (w *watcher) finish() {
	err := registry.NewError(registry.Closed, w.c.rel(w.root), nil)
	if w.c.ctx.Err() == nil {
		err = convertError(w.ctx.Err(), w.c.rel(w.root))
	}
	t := time.NewTimer(w.c.cfg.OperationTimeout)
	defer t.Stop()
	select {
	case w.out <- registry.Event{Type: registry.EventError, Err: err}:
	case <-t.C: // nobody reads any more
	}
}

// send delivers one event unless the watch ends first.
func (w *watcher) send(ev registry.Event) bool {
	select {
	case w.out <- ev:
		return true
	case <-w.ctx.Done():
	case <-w.c.ctx.Done():
	}
	return false
}

// snapshot re-reads the whole subtree, arming all watches, and returns it as
// an EventSnapshot. The mirror is replaced only on success.
func (w *watcher) snapshot() (registry.Event, error) {
	nodes := make(map[string]*wnode)
	if err := w.walk(w.root, nodes, false); err != nil {
		return registry.Event{}, err
	}
	w.nodes = nodes
	ev := registry.Event{Type: registry.EventSnapshot, Nodes: make([]registry.Node, 0, len(nodes))}
	for p, n := range nodes {
		ev.Nodes = append(ev.Nodes, w.node(p, n))
	}
	slices.SortFunc(ev.Nodes, func(a, b registry.Node) int {
		if a.Path < b.Path {
			return -1
		}
		if a.Path > b.Path {
			return 1
		}
		return 0
	})
	return ev, nil
}

func (w *watcher) node(full string, n *wnode) registry.Node {
	return registry.Node{Path: w.c.rel(full), Value: bytes.Clone(nonNil(n.value)), Version: registry.Version(n.version)}
}

// walk reads full and its subtree into nodes, arming a data and a child
// watch on each; with emit it sends a put for every new or changed node.
// An absent root gets an exists watch, so its creation is seen.
func (w *watcher) walk(full string, nodes map[string]*wnode, emit bool) error {
	if w.c.hidden(full) {
		return nil
	}
	type res struct {
		data []byte
		st   *zk.Stat
	}
	var r res
	var err error
	for {
		r, err = call(w, full, func(conn *zk.Conn) (res, error) {
			d, st, _, err := conn.GetW(full)
			return res{data: d, st: st}, err
		})
		if !errors.Is(err, registry.ErrNotFound) || full != w.root {
			break
		}
		exists, err := call(w, full, func(conn *zk.Conn) (bool, error) {
			ok, _, _, err := conn.ExistsW(full)
			return ok, err
		})
		if err != nil || !exists {
			return err
		}
	}
	if errors.Is(err, registry.ErrNotFound) {
		return nil // gone meanwhile; its parent's child watch reports it
	}
	if err != nil {
		return err
	}
	kids, err := call(w, full, func(conn *zk.Conn) ([]string, error) {
		k, _, _, err := conn.ChildrenW(full)
		return k, err
	})
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	n := &wnode{value: nonNil(r.data), version: r.st.Version}
	old := nodes[full]
	nodes[full] = n
	if emit && (old == nil || old.version != n.version || !bytes.Equal(old.value, n.value)) {
		if !w.send(registry.Event{Type: registry.EventPut, Node: w.node(full, n)}) {
			return errStopped
		}
	}
	for _, k := range w.c.visible(full, kids) {
		if err := w.walk(registry.Join(full, "/"+k), nodes, emit); err != nil {
			return err
		}
	}
	return nil
}

// call runs one read for the watch, bounded by OperationTimeout.
func call[T any](w *watcher, full string, fn func(*zk.Conn) (T, error)) (T, error) {
	ctx, cancel := w.c.opCtx(w.ctx)
	defer cancel()
	return do(w.c, ctx, w.c.rel(full), fn)
}

// handle applies one ZooKeeper event to the mirror, re-arming the watch it
// consumed, and sends the resulting events. An error means the mirror may
// be stale: the caller resyncs.
func (w *watcher) handle(ev zk.Event) error {
	p := ev.Path
	switch ev.Type {
	case zk.EventNotWatching:
		return errors.New("watches dropped")
	case zk.EventNodeCreated:
		if p == w.root && w.nodes[p] == nil {
			return w.walk(p, w.nodes, true)
		}
	case zk.EventNodeDeleted:
		if w.nodes[p] == nil {
			return nil
		}
		// The node may be back already, and its parent's child watch may
		// have fired before: read it again rather than trust the event.
		return w.gone(p)
	case zk.EventNodeDataChanged:
		n := w.nodes[p]
		if n == nil {
			return nil
		}
		type res struct {
			data []byte
			st   *zk.Stat
		}
		r, err := call(w, p, func(conn *zk.Conn) (res, error) {
			d, st, _, err := conn.GetW(p)
			return res{d, st}, err
		})
		if errors.Is(err, registry.ErrNotFound) {
			return w.gone(p)
		}
		if err != nil {
			return err
		}
		if r.st.Version != n.version || !bytes.Equal(r.data, n.value) {
			n.value, n.version = nonNil(r.data), r.st.Version
			if !w.send(registry.Event{Type: registry.EventPut, Node: w.node(p, n)}) {
				return errStopped
			}
		}
	case zk.EventNodeChildrenChanged:
		n := w.nodes[p]
		if n == nil {
			return nil
		}
		kids, err := call(w, p, func(conn *zk.Conn) ([]string, error) {
			k, _, _, err := conn.ChildrenW(p)
			return k, err
		})
		if errors.Is(err, registry.ErrNotFound) {
			return w.gone(p)
		}
		if err != nil {
			return err
		}
		kids = w.c.visible(p, kids)
		// The mirror, not the last child list, says what is gone.
		var gone []string
		for q := range w.nodes {
			if q != p && registry.Parent(q) == p {
				if _, found := slices.BinarySearch(kids, q[strings.LastIndexByte(q, '/')+1:]); !found {
					gone = append(gone, q)
				}
			}
		}
		for _, q := range gone {
			if !w.remove(q) {
				return errStopped
			}
		}
		for _, k := range kids {
			// Not "new in the list": a child deleted and created again
			// is in both lists but was dropped from the mirror.
			if kp := registry.Join(p, "/"+k); w.nodes[kp] == nil {
				if err := w.walk(kp, w.nodes, true); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// gone drops a node that was deleted and reads it again: if it is back
// (created anew), it returns to the mirror with fresh watches; if it is the
// absent root, an exists watch waits for it.
func (w *watcher) gone(p string) error {
	if !w.remove(p) {
		return errStopped
	}
	if p != w.root && w.nodes[registry.Parent(p)] == nil {
		return nil
	}
	return w.walk(p, w.nodes, true)
}

// remove drops p's subtree from the mirror and sends deletes, deepest first.
func (w *watcher) remove(p string) bool {
	var gone []string
	for q := range w.nodes {
		if within(q, p) {
			gone = append(gone, q)
		}
	}
	slices.Sort(gone)
	slices.Reverse(gone)
	for _, q := range gone {
		delete(w.nodes, q)
		if !w.send(registry.Event{Type: registry.EventDelete, Node: registry.Node{Path: w.c.rel(q), Value: []byte{}}}) {
			return false
		}
	}
	return true
}
