package zookeeper

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/shardgate/shardgate/registry"
)

// Client is a registry.Registry on a ZooKeeper ensemble. It holds one
// zk.Conn for its whole life; go-zookeeper reconnects it and, after an
// expiry, opens a new session on it, which the Client then repairs
// (ephemerals re-created, watches resynced).
type Client struct {
	cfg     registry.Config
	root    string   // cfg.Namespace without trailing slash; "" for the tree's root
	acl     []zk.ACL // ACL of nodes at and below root
	conn    *zk.Conn
	logger  *quietLogger
	hosts   *hostProvider
	ctx     context.Context // ends at Close; bounds background work
	cancel  context.CancelFunc
	evSig   chan struct{} // capacity 1: events queued for the dispatcher
	connEnd chan struct{} // closed when go-zookeeper's event loop has ended

	evMu sync.Mutex
	evQ  []zk.Event

	calls   sync.WaitGroup // in-flight calls to conn
	workers sync.WaitGroup // dispatcher, ephemeral keeper, watches

	mu        sync.Mutex // guards the fields below
	closed    bool
	state     registry.SessionState
	stateCh   chan struct{} // closed at the next change of state or epoch
	epoch     uint64        // counts StateHasSession: each one may have missed events
	sessionID int64
	subs      map[*subscriber]struct{}

	// ephMu serializes writes of owned ephemerals (PutEphemeral, Delete, the
	// keeper's re-creation) so that a re-creation never races a delete.
	ephMu  sync.Mutex
	eph    map[string]*ephemeral // full path → owned ephemeral; guarded by mu
	ephSig chan struct{}         // capacity 1: wakes the keeper
	dirty  map[string]bool       // full paths the keeper must check; guarded by mu
	newGen bool                  // a new session needs all ephemerals re-created; guarded by mu
}

var _ registry.Registry = (*Client)(nil)

// Open connects to the servers in cfg.ServerLists and waits, at most
// cfg.OperationTimeout (and ctx), for a session. The session timeout is
// cfg.TimeToLive.
func Open(ctx context.Context, cfg registry.Config) (*Client, error) {
	return open(ctx, cfg, nil)
}

// open is Open with a dialer that tests use to watch the connection.
func open(ctx context.Context, cfg registry.Config, dialer zk.Dialer) (*Client, error) {
	if cfg.Type == "" {
		cfg.Type = registry.TypeZooKeeper
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate("registry"); err != nil {
		return nil, registry.NewError(registry.Invalid, "", err)
	}
	c := &Client{
		cfg:     cfg,
		root:    strings.TrimSuffix(cfg.Namespace, "/"),
		acl:     zk.WorldACL(zk.PermAll),
		logger:  &quietLogger{},
		evSig:   make(chan struct{}, 1),
		connEnd: make(chan struct{}),
		stateCh: make(chan struct{}),
		subs:    make(map[*subscriber]struct{}),
		eph:     make(map[string]*ephemeral),
		ephSig:  make(chan struct{}, 1),
		dirty:   make(map[string]bool),
	}
	if cfg.Username != "" {
		c.acl = zk.DigestACL(zk.PermAll, cfg.Username, cfg.Password)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.hosts = &hostProvider{}
	conn, events, err := zk.Connect(cfg.ServerLists, cfg.TimeToLive,
		zk.WithLogger(c.logger), zk.WithLogInfo(false), zk.WithEventCallback(c.onEvent),
		zk.WithHostProvider(c.hosts), withDialer(dialer, handshakeLimit(cfg)))
	if err != nil {
		c.cancel()
		return nil, registry.NewError(registry.Unavailable, "", fmt.Errorf("ZooKeeper servers %s: %w", strings.Join(cfg.ServerLists, ","), err))
	}
	c.conn = conn
	go func() {
		// The callback sees every event; this only keeps the channel empty
		// and tells Close when go-zookeeper's goroutines are done.
		for range events {
		}
		close(c.connEnd)
	}()
	c.workers.Add(1)
	go c.dispatch()

	octx, cancel := c.opCtx(ctx)
	defer cancel()
	if err := c.waitSession(octx); err != nil {
		c.Close()
		return nil, err
	}
	if cfg.Username != "" {
		_, err := do(c, octx, "/", func(conn *zk.Conn) (struct{}, error) {
			return struct{}{}, conn.AddAuth("digest", []byte(cfg.Username+":"+cfg.Password))
		})
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	c.workers.Add(1)
	go c.keepEphemerals()
	return c, nil
}

// withDialer keeps go-zookeeper's default dialer when d is nil, and bounds
// each connection's session handshake by limit.
func withDialer(d zk.Dialer, limit time.Duration) func(*zk.Conn) {
	if d == nil {
		d = net.DialTimeout
	}
	return zk.WithDialer(handshakeDialer(d, limit))
}

// handshakeLimit is how long a server may take to answer a connect request:
// half the operation timeout, so that Open still has time for a second
// server when the first takes connections but does not answer.
func handshakeLimit(cfg registry.Config) time.Duration {
	return max(cfg.OperationTimeout/2, 500*time.Millisecond)
}

// waitSession waits for the first session.
func (c *Client) waitSession(ctx context.Context) error {
	for {
		st, ch := c.Session()
		if st.Connected {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			err := fmt.Errorf("no session with a ZooKeeper server at %s within %s: %w%s",
				strings.Join(c.cfg.ServerLists, ","), c.cfg.OperationTimeout, ctx.Err(), c.logger.last())
			return registry.NewError(registry.Unavailable, "", err)
		}
	}
}

// opCtx bounds one operation by the caller's context and OperationTimeout.
func (c *Client) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.OperationTimeout)
}

// do runs fn on the connection, bounded by ctx. go-zookeeper calls take no
// context, so fn runs in its own goroutine; when ctx ends first the call is
// abandoned (go-zookeeper fails it once the connection is given up, and
// Close waits for it). path is the caller's relative path for errors.
func do[T any](c *Client, ctx context.Context, path string, fn func(*zk.Conn) (T, error)) (T, error) {
	var zero T
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return zero, registry.NewError(registry.Closed, path, nil)
	}
	c.calls.Add(1)
	c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		c.calls.Done()
		return zero, c.ctxError(err, path)
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer c.calls.Done()
		v, err := fn(c.conn)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && c.isClosed() {
			return zero, registry.NewError(registry.Closed, path, r.err)
		}
		return r.v, convertError(r.err, path)
	case <-ctx.Done():
		return zero, c.ctxError(ctx.Err(), path)
	}
}

// ctxError explains an ended context: closed client, no server, or slow server.
func (c *Client) ctxError(err error, path string) error {
	c.mu.Lock()
	closed, connected := c.closed, c.state.Connected
	c.mu.Unlock()
	switch {
	case closed:
		return registry.NewError(registry.Closed, path, nil)
	case !connected && err == context.DeadlineExceeded:
		return convertError(&errNotConnected{servers: c.cfg.ServerLists, cause: err, last: c.logger.last()}, path)
	}
	return convertError(err, path)
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// onEvent is go-zookeeper's callback. It runs on go-zookeeper's goroutines,
// sometimes under its locks, so it only queues the event.
func (c *Client) onEvent(ev zk.Event) {
	if ev.Type == zk.EventSession && ev.State == zk.StateExpired {
		c.hosts.expired()
	}
	c.evMu.Lock()
	c.evQ = append(c.evQ, ev)
	c.evMu.Unlock()
	select {
	case c.evSig <- struct{}{}:
	default:
	}
}

// dispatch applies session events to the session state and hands node
// events to the watches and the ephemeral keeper. It never blocks on the
// network, so one slow watch cannot delay the others.
func (c *Client) dispatch() {
	defer c.workers.Done()
	for {
		ended := false
		select {
		case <-c.evSig:
		case <-c.connEnd:
			ended = true
		}
		c.evMu.Lock()
		q := c.evQ
		c.evQ = nil
		c.evMu.Unlock()
		for _, ev := range q {
			if ev.Type == zk.EventSession {
				c.sessionEvent(ev)
				continue
			}
			c.nodeEvent(ev)
		}
		if ended {
			return
		}
	}
}

func (c *Client) sessionEvent(ev zk.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.state
	switch ev.State {
	case zk.StateHasSession:
		id := c.conn.SessionID()
		if id == 0 {
			return // already lost again; a later event follows
		}
		c.state.Connected, c.state.Err = true, nil
		c.epoch++
		if c.sessionID != 0 && id != c.sessionID {
			// A brand-new session: the old one's ephemerals are gone.
			// Generation grows once the keeper has re-created them.
			c.newGen = true
			c.kickLocked()
		}
		c.sessionID = id
		c.broadcastLocked()
		return
	case zk.StateExpired:
		c.state.Connected = false
		c.state.Err = registry.NewError(registry.SessionLost, "", fmt.Errorf("ZooKeeper session 0x%x expired", c.sessionID))
	case zk.StateAuthFailed:
		c.state.Connected = false
		c.state.Err = convertError(zk.ErrAuthFailed, "")
	case zk.StateDisconnected:
		if !c.state.Connected {
			return
		}
		c.state.Connected = false
		c.state.Err = registry.NewError(registry.Unavailable, "", fmt.Errorf("disconnected from ZooKeeper %s", ev.Server))
	default:
		return
	}
	if c.state.Connected != old.Connected || c.state.Err != old.Err {
		c.broadcastLocked()
	}
}

// broadcastLocked wakes everyone waiting on the session state.
func (c *Client) broadcastLocked() {
	close(c.stateCh)
	c.stateCh = make(chan struct{})
}

// nodeEvent hands a watch event to every subscriber whose subtree holds it,
// and to the ephemeral keeper if the node is an owned ephemeral.
func (c *Client) nodeEvent(ev zk.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := range c.subs {
		if within(ev.Path, s.prefix) {
			s.push(ev)
		}
	}
	if _, ok := c.eph[ev.Path]; ok && (ev.Type == zk.EventNodeDataChanged || ev.Type == zk.EventNodeDeleted || ev.Type == zk.EventNotWatching) {
		c.dirty[ev.Path] = true
		c.kickLocked()
	}
}

// Session implements registry.Registry.
func (c *Client) Session() (registry.SessionState, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.stateCh
}

// sessionEpoch returns how many sessions (or reconnects) the client had,
// whether it is connected now, and a channel closed at the next change.
func (c *Client) sessionEpoch() (uint64, bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch, c.state.Connected, c.stateCh
}

// Close implements registry.Registry. Closing the session makes the server
// delete this client's ephemeral nodes at once.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.state.Connected = false
	c.state.Err = registry.NewError(registry.Closed, "", nil)
	c.broadcastLocked()
	c.mu.Unlock()

	c.cancel()
	c.conn.Close()
	c.calls.Wait()
	<-c.connEnd
	c.workers.Wait()
	return nil
}

// full maps a relative path to the znode path.
func (c *Client) full(p string) string { return registry.Join(c.root, p) }

// rel maps a znode path back to the caller's path.
func (c *Client) rel(full string) string {
	r := strings.TrimPrefix(full, c.root)
	if r == "" {
		return "/"
	}
	return r
}

// hidden says whether a znode is ZooKeeper's own (/zookeeper), which a
// client without a namespace must not see as data.
func (c *Client) hidden(full string) bool {
	return c.root == "" && within(full, "/zookeeper")
}

// within says whether p is prefix or below it.
func within(p, prefix string) bool {
	if prefix == "/" {
		return true
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// quietLogger keeps go-zookeeper's last message for error reports and logs
// at debug level only: reconnect attempts would flood the log.
type quietLogger struct {
	mu  sync.Mutex
	msg string
}

func (l *quietLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	slog.Debug("registry: go-zookeeper: " + msg)
	l.mu.Lock()
	l.msg = msg
	l.mu.Unlock()
}

func (l *quietLogger) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.msg == "" {
		return ""
	}
	return " (last: " + l.msg + ")"
}

// backoff sleeps before retry n, or returns false when the client closes.
func (c *Client) backoff(n int, wake <-chan struct{}) bool {
	t := time.NewTimer(c.cfg.Backoff(n))
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	case <-c.ctx.Done():
		return false
	}
	return true
}

// hostProvider hands go-zookeeper the servers in turn. go-zookeeper pauses
// a second before each pass over the servers; this provider skips the pause
// for the first pass after a working session was lost and after the server
// declared the session expired, so the client is back (with a new session)
// at once instead of after one or two seconds. Names are resolved when
// dialing, so DNS changes are followed.
type hostProvider struct {
	mu      sync.Mutex
	servers []string
	curr    int
	free    int // attempts left without a pause
	tries   int // attempts since the free ones ran out
}

func (h *hostProvider) Init(servers []string) error {
	if len(servers) == 0 {
		return fmt.Errorf("no servers")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.servers = servers
	h.curr = -1
	h.free = len(servers)
	return nil
}

func (h *hostProvider) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.servers)
}

func (h *hostProvider) Next() (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.servers)
	h.curr = (h.curr + 1) % n
	if h.free > 0 {
		h.free--
		return h.servers[h.curr], false
	}
	h.tries++
	return h.servers[h.curr], (h.tries-1)%n == 0
}

// Connected is called when a session is established.
func (h *hostProvider) Connected() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.free, h.tries = len(h.servers), 0
}

// expired is called when a server said the session expired: that server
// works, so ask it for a new session at once.
func (h *hostProvider) expired() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.free, h.tries = len(h.servers), 0
	h.curr-- // the same server again
	if h.curr < -1 {
		h.curr = len(h.servers) - 2
	}
}
