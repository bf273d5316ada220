// Package memory is an in-process registry for tests: a Server whose
// clients (in the same process) see one store, with the faults a test
// injects on demand — the server stopped and started, a client's session
// expired, every operation delayed, writes failing. It passes the
// registrytest conformance suite like the real backends, so tests of the
// orchestration and the front ends can run their fault paths in
// milliseconds. It is not a config choice: nothing outlives the process.
package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardgate/shardgate/registry"
)

// servers are the live servers of the process, by name, for Open.
var (
	serversMu sync.Mutex
	servers   = map[string]*Server{}
	serverIDs atomic.Int64
)

// Server is one in-process registry.
type Server struct {
	name string

	mu       sync.Mutex
	nodes    map[string]*node // by absolute path
	rev      int64
	clients  map[*Client]struct{}
	stopped  bool
	delay    time.Duration
	failWith error
}

type node struct {
	value []byte
	ver   registry.Version
	owner *Client // ephemeral: the client whose session holds it
	// claim: created by CreateEphemeral, not re-created after a session loss.
	claim bool
}

// NewServer starts a server; clients reach it with Open and a config whose
// ServerLists is [s.Name()].
func NewServer() *Server {
	s := &Server{name: fmt.Sprintf("memory-%d", serverIDs.Add(1)), nodes: map[string]*node{}, clients: map[*Client]struct{}{}}
	serversMu.Lock()
	servers[s.name] = s
	serversMu.Unlock()
	return s
}

// Name is the server's address for registry.Config.ServerLists.
func (s *Server) Name() string { return s.name }

// Close removes the server: its clients fail as after Stop, new ones
// cannot open.
func (s *Server) Close() {
	serversMu.Lock()
	delete(servers, s.name)
	serversMu.Unlock()
	s.Stop()
}

// Open connects to the server named by cfg.ServerLists[0], rooted at
// cfg.Namespace.
func Open(ctx context.Context, cfg registry.Config) (registry.Registry, error) {
	name := ""
	if len(cfg.ServerLists) > 0 {
		name = cfg.ServerLists[0]
	}
	serversMu.Lock()
	s := servers[name]
	serversMu.Unlock()
	if s == nil {
		return nil, registry.NewError(registry.Unavailable, "", fmt.Errorf("no memory registry server %q in this process", name))
	}
	c, err := s.Open(ctx, cfg)
	if err != nil {
		return nil, err // a nil interface, not a typed nil
	}
	return c, nil
}

// Open connects a new client (a new session) rooted at cfg.Namespace.
func (s *Server) Open(ctx context.Context, cfg registry.Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	c := &Client{srv: s, cfg: cfg, root: strings.TrimSuffix(cfg.Namespace, "/"), ephemerals: map[string]bool{},
		watches: map[*watch]struct{}{}, changed: make(chan struct{}), done: make(chan struct{})}
	if err := s.wait(ctx, c, ""); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, s.unavailable("")
	}
	s.clients[c] = struct{}{}
	c.state = registry.SessionState{Connected: true, Generation: 1}
	return c, nil
}

// Stop stops the server: every operation fails with ErrUnavailable and
// sessions are disconnected (not expired) until Start.
func (s *Server) Stop() {
	s.mu.Lock()
	s.stopped = true
	cs := s.clientList()
	s.mu.Unlock()
	for _, c := range cs {
		c.setConnected(false, registry.NewError(registry.Unavailable, "", fmt.Errorf("memory registry %s stopped", s.name)))
	}
}

// Start starts a stopped server again, with its data and sessions.
func (s *Server) Start() {
	s.mu.Lock()
	s.stopped = false
	cs := s.clientList()
	s.mu.Unlock()
	for _, c := range cs {
		c.setConnected(true, nil)
	}
}

// SetDelay delays every operation by d (0: none); an operation whose delay
// exceeds its client's operation timeout fails with ErrTimeout.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// FailWrites makes every write fail with ErrUnavailable wrapping err (nil:
// writes work again).
func (s *Server) FailWrites(err error) {
	s.mu.Lock()
	s.failWith = err
	s.mu.Unlock()
}

// ExpireSession ends r's session as a server does after its TTL passed
// without a heartbeat: its ephemeral nodes are deleted; then, like the
// real clients, r gets a new session and re-creates them with the values
// they had.
func (s *Server) ExpireSession(r registry.Registry) {
	c, ok := r.(*Client)
	if !ok || c.srv != s {
		return
	}
	s.mu.Lock()
	owned := map[string][]byte{}
	for p, n := range s.nodes {
		if n.owner == c {
			if !n.claim {
				owned[p] = n.value
			}
			s.deleteLocked(p)
		}
	}
	s.mu.Unlock()
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return
	}
	s.mu.Lock()
	for _, p := range slices.Sorted(maps.Keys(owned)) {
		s.putLocked(p, owned[p], c)
	}
	s.mu.Unlock()
	c.mu.Lock()
	c.state.Generation++
	c.state.Err = registry.NewError(registry.SessionLost, "", fmt.Errorf("session expired by the test"))
	c.notifyLocked()
	c.mu.Unlock()
}

// ExpireAll expires every client's session (see ExpireSession): what a
// long network cut does to all instances.
func (s *Server) ExpireAll() {
	s.mu.Lock()
	cs := s.clientList()
	s.mu.Unlock()
	for _, c := range cs {
		s.ExpireSession(c)
	}
}

func (s *Server) clientList() []*Client {
	cs := make([]*Client, 0, len(s.clients))
	for c := range s.clients {
		cs = append(cs, c)
	}
	return cs
}

func (s *Server) unavailable(path string) error {
	return registry.NewError(registry.Unavailable, path, fmt.Errorf("memory registry %s is stopped", s.name))
}

// wait applies the injected delay, bounded by the client's operation
// timeout and ctx.
func (s *Server) wait(ctx context.Context, c *Client, path string) error {
	s.mu.Lock()
	d := s.delay
	s.mu.Unlock()
	if d <= 0 {
		return nil
	}
	limit := c.cfg.OperationTimeout
	if limit > 0 && d >= limit {
		d = limit
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return registry.NewError(registry.Timeout, path, ctx.Err())
	}
	if limit > 0 && d >= limit {
		return registry.NewError(registry.Timeout, path, fmt.Errorf("memory registry %s: no answer within %v", s.name, limit))
	}
	return nil
}

// putLocked writes a node and tells the watchers; owner nil keeps the
// node's owner (an operator's Put on an ephemeral node keeps it
// ephemeral, as on etcd and ZooKeeper).
func (s *Server) putLocked(p string, v []byte, owner *Client) registry.Version {
	s.rev++
	n := s.nodes[p]
	if n == nil {
		n = &node{}
		s.nodes[p] = n
	}
	n.value, n.ver = append([]byte(nil), v...), registry.Version(s.rev)
	if owner != nil {
		n.owner = owner
	}
	if n.owner != nil {
		n.owner.ephemerals[p] = true
	}
	s.notify(registry.Event{Type: registry.EventPut, Node: registry.Node{Path: p, Value: n.value, Version: n.ver}})
	return n.ver
}

func (s *Server) deleteLocked(p string) {
	n := s.nodes[p]
	if n == nil {
		return
	}
	if n.owner != nil {
		delete(n.owner.ephemerals, p)
	}
	delete(s.nodes, p)
	s.rev++
	s.notify(registry.Event{Type: registry.EventDelete, Node: registry.Node{Path: p, Version: registry.Version(s.rev)}})
}

// notify queues ev (absolute path) on every watch whose subtree holds it.
func (s *Server) notify(ev registry.Event) {
	for c := range s.clients {
		for w := range c.watches {
			if under(ev.Path, w.base) {
				e := ev
				e.Path = c.rel(ev.Path)
				w.push(e)
			}
		}
	}
}

// under reports whether absolute path p is base or below it.
func under(p, base string) bool {
	return base == "/" || p == base || strings.HasPrefix(p, base+"/")
}

// Client is one session on a Server (registry.Registry).
type Client struct {
	srv  *Server
	cfg  registry.Config
	root string // the namespace, without a trailing slash

	// ephemerals and watches are guarded by srv.mu.
	ephemerals map[string]bool
	watches    map[*watch]struct{}

	mu      sync.Mutex
	closed  bool
	done    chan struct{} // closed by Close
	state   registry.SessionState
	changed chan struct{}
}

var _ registry.Registry = (*Client)(nil)

func (c *Client) abs(p string) string {
	if p == "/" {
		if c.root == "" {
			return "/"
		}
		return c.root
	}
	return c.root + p
}

func (c *Client) rel(p string) string {
	r := strings.TrimPrefix(p, c.root)
	if r == "" {
		return "/"
	}
	return r
}

func (c *Client) setConnected(on bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.state.Connected, c.state.Err = on, err
	c.notifyLocked()
}

func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// op runs fn under the server's lock after the checks every operation
// passes: client open, valid path, injected delay, server running (and
// accepting writes, for a write).
func (c *Client) op(ctx context.Context, path string, write bool, fn func(abs string) error) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return registry.NewError(registry.Closed, path, nil)
	}
	if err := registry.CheckPath(path); err != nil {
		return err
	}
	if err := c.srv.wait(ctx, c, path); err != nil {
		return err
	}
	s := c.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return s.unavailable(path)
	}
	if write && s.failWith != nil {
		return registry.NewError(registry.Unavailable, path, fmt.Errorf("memory registry %s refuses writes: %w", s.name, s.failWith))
	}
	return fn(c.abs(path))
}

func checkValue(path string, v []byte) error {
	if len(v) > registry.MaxValueSize {
		return registry.NewError(registry.Invalid, path, fmt.Errorf("value of %d bytes exceeds the limit of %d", len(v), registry.MaxValueSize))
	}
	return nil
}

// Get implements registry.Registry.
func (c *Client) Get(ctx context.Context, path string) (v []byte, ver registry.Version, err error) {
	err = c.op(ctx, path, false, func(p string) error {
		n := c.srv.nodes[p]
		if n == nil {
			return registry.NewError(registry.NotFound, path, nil)
		}
		v, ver = append([]byte(nil), n.value...), n.ver
		return nil
	})
	return v, ver, err
}

// Put implements registry.Registry.
func (c *Client) Put(ctx context.Context, path string, value []byte) (ver registry.Version, err error) {
	if err := checkValue(path, value); err != nil {
		return 0, err
	}
	err = c.op(ctx, path, true, func(p string) error {
		ver = c.srv.putLocked(p, value, nil)
		return nil
	})
	return ver, err
}

// Create implements registry.Registry.
func (c *Client) Create(ctx context.Context, path string, value []byte) (ver registry.Version, err error) {
	if err := checkValue(path, value); err != nil {
		return 0, err
	}
	err = c.op(ctx, path, true, func(p string) error {
		if c.srv.nodes[p] != nil {
			return registry.NewError(registry.Exists, path, nil)
		}
		ver = c.srv.putLocked(p, value, nil)
		return nil
	})
	return ver, err
}

// CompareAndSet implements registry.Registry.
func (c *Client) CompareAndSet(ctx context.Context, path string, value []byte, v registry.Version) (ver registry.Version, err error) {
	if err := checkValue(path, value); err != nil {
		return 0, err
	}
	err = c.op(ctx, path, true, func(p string) error {
		n := c.srv.nodes[p]
		switch {
		case n == nil:
			return registry.NewError(registry.NotFound, path, nil)
		case n.ver != v:
			return registry.NewError(registry.BadVersion, path, fmt.Errorf("version %d, not %d", n.ver, v))
		}
		ver = c.srv.putLocked(p, value, nil)
		return nil
	})
	return ver, err
}

// PutEphemeral implements registry.Registry.
func (c *Client) PutEphemeral(ctx context.Context, path string, value []byte) error {
	if err := checkValue(path, value); err != nil {
		return err
	}
	return c.op(ctx, path, true, func(p string) error {
		c.srv.putLocked(p, value, c)
		return nil
	})
}

// CreateEphemeral implements registry.Registry.
func (c *Client) CreateEphemeral(ctx context.Context, path string, value []byte) error {
	if err := checkValue(path, value); err != nil {
		return err
	}
	return c.op(ctx, path, true, func(p string) error {
		if c.srv.nodes[p] != nil {
			return registry.NewError(registry.Exists, path, nil)
		}
		c.srv.putLocked(p, value, c)
		c.srv.nodes[p].claim = true
		return nil
	})
}

// Delete implements registry.Registry.
func (c *Client) Delete(ctx context.Context, path string, recursive bool) error {
	return c.op(ctx, path, true, func(p string) error {
		s := c.srv
		var below []string
		for k := range s.nodes {
			if k != p && under(k, p) {
				below = append(below, k)
			}
		}
		if s.nodes[p] == nil && len(below) == 0 {
			return registry.NewError(registry.NotFound, path, nil)
		}
		if len(below) > 0 && !recursive {
			return registry.NewError(registry.NotEmpty, path, nil)
		}
		sort.Strings(below)
		for _, k := range below {
			s.deleteLocked(k)
		}
		s.deleteLocked(p)
		return nil
	})
}

// Children implements registry.Registry.
func (c *Client) Children(ctx context.Context, path string) (kids []string, err error) {
	err = c.op(ctx, path, false, func(p string) error {
		seen := map[string]bool{}
		prefix := p + "/"
		if p == "/" {
			prefix = "/"
		}
		for k := range c.srv.nodes {
			if rest, ok := strings.CutPrefix(k, prefix); ok && rest != "" {
				name, _, _ := strings.Cut(rest, "/")
				seen[name] = true
			}
		}
		for k := range seen {
			kids = append(kids, k)
		}
		sort.Strings(kids)
		return nil
	})
	return kids, err
}

// Watch implements registry.Registry.
func (c *Client) Watch(ctx context.Context, path string) (<-chan registry.Event, error) {
	var w *watch
	err := c.op(ctx, path, false, func(p string) error {
		w = &watch{base: p, out: make(chan registry.Event), wake: make(chan struct{}, 1), done: make(chan struct{})}
		snap := registry.Event{Type: registry.EventSnapshot}
		for k, n := range c.srv.nodes {
			if under(k, p) {
				snap.Nodes = append(snap.Nodes, registry.Node{Path: c.rel(k), Value: n.value, Version: n.ver})
			}
		}
		sort.Slice(snap.Nodes, func(i, j int) bool { return snap.Nodes[i].Path < snap.Nodes[j].Path })
		w.push(snap)
		c.watches[w] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, err
	}
	go w.run(ctx, c.done, func() {
		c.srv.mu.Lock()
		delete(c.watches, w)
		c.srv.mu.Unlock()
	})
	return w.out, nil
}

// Session implements registry.Registry.
func (c *Client) Session() (registry.SessionState, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.changed
}

// Close implements registry.Registry: the client's ephemeral nodes go at
// once, its watches end with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	c.state.Connected = false
	c.notifyLocked()
	c.mu.Unlock()
	s := c.srv
	s.mu.Lock()
	for _, p := range slices.Sorted(maps.Keys(c.ephemerals)) {
		s.deleteLocked(p)
	}
	ws := make([]*watch, 0, len(c.watches))
	for w := range c.watches {
		ws = append(ws, w)
	}
	delete(s.clients, c)
	s.mu.Unlock()
	for _, w := range ws {
		w.end(registry.NewError(registry.Closed, "", nil))
	}
	return nil
}

// watch queues events without bound, so that the server never waits for a
// slow consumer.
type watch struct {
	base string
	out  chan registry.Event
	wake chan struct{}
	done chan struct{}

	mu      sync.Mutex
	queue   []registry.Event
	endErr  error
	endOnce sync.Once
}

func (w *watch) push(ev registry.Event) {
	w.mu.Lock()
	w.queue = append(w.queue, ev)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watch) end(err error) {
	w.endOnce.Do(func() {
		w.mu.Lock()
		w.endErr = err
		w.mu.Unlock()
		close(w.done)
	})
}

func (w *watch) run(ctx context.Context, clientDone <-chan struct{}, unregister func()) {
	defer close(w.out)
	defer unregister()
	for {
		w.mu.Lock()
		var ev registry.Event
		have := len(w.queue) > 0
		if have {
			ev = w.queue[0] // taken off once sent
		}
		w.mu.Unlock()
		out := w.out
		if !have {
			out = nil // nothing to send: wait for more, or the end
		}
		select {
		case out <- ev:
			w.mu.Lock()
			w.queue = w.queue[1:]
			w.mu.Unlock()
		case <-w.wake:
		case <-ctx.Done():
			// The reader may keep reading until its client closes.
			select {
			case w.out <- registry.Event{Type: registry.EventError, Err: ctx.Err()}:
			case <-clientDone:
			}
			return
		case <-w.done:
			// The client is closing: the reader may be gone, do not hang.
			select {
			case w.out <- registry.Event{Type: registry.EventError, Err: w.endErr}:
			case <-time.After(100 * time.Millisecond):
			}
			return
		}
	}
}
