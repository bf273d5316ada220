package etcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/shardgate/shardgate/registry"
)

// Client is a registry.Registry on an etcd cluster.
type Client struct {
	cli       *clientv3.Client
	cfg       registry.Config
	root      string
	endpoints []string

	// ctx is the client's own long-lived context: keep-alive and the
	// ephemeral watches run under it, never under a caller's.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	lease   clientv3.LeaseID
	owned   map[string]*ephemeral // full key → owned ephemeral node
	state   registry.SessionState
	changed chan struct{}
	closed  bool
}

var _ registry.Registry = (*Client)(nil)

// Open connects to etcd and starts the client's session (its lease). It
// fails with ErrUnavailable within cfg.OperationTimeout if no server answers.
func Open(ctx context.Context, cfg registry.Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	if cfg.Type == registry.TypeEmbedded {
		cfg.Type = registry.TypeEtcd // the embedded backend is an etcd server
	}
	if err := cfg.LoadCredential(); err != nil {
		return nil, registry.NewError(registry.Invalid, "", err)
	}
	if err := cfg.Validate("registry"); err != nil {
		return nil, registry.NewError(registry.Invalid, "", err)
	}
	tlsCfg, err := tlsConfig(cfg.TLS)
	if err != nil {
		return nil, registry.NewError(registry.Invalid, "", err)
	}
	endpoints := make([]string, len(cfg.ServerLists))
	for i, s := range cfg.ServerLists {
		endpoints[i] = strings.TrimSpace(s)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          cfg.OperationTimeout,
		DialKeepAliveTime:    cfg.TimeToLive / 3,
		DialKeepAliveTimeout: cfg.OperationTimeout,
		Username:             cfg.Username,
		Password:             cfg.Password,
		TLS:                  tlsCfg,
		Logger:               zap.NewNop(),
		// gRPC's own reconnect backoff grows to 120 s: after a long
		// outage the client would find the server back only minutes later
		// (seen: no re-registration 10 s after a 60 s outage). Bound it by
		// the registry's retry settings.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  cfg.RetryInterval,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   cfg.MaxRetryInterval,
			},
			MinConnectTimeout: cfg.OperationTimeout,
		})},
	})
	c := &Client{
		cli:       cli,
		cfg:       cfg,
		root:      strings.TrimSuffix(cfg.Namespace, "/"),
		endpoints: endpoints,
		owned:     map[string]*ephemeral{},
		changed:   make(chan struct{}),
	}
	if err != nil {
		return nil, c.unreachable(err)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	gctx, cancel := c.opCtx(ctx)
	lease, err := cli.Grant(gctx, ttlSeconds(cfg))
	cancel()
	if err != nil {
		cli.Close()
		c.cancel()
		return nil, c.unreachable(err)
	}
	ka, err := cli.KeepAlive(c.ctx, lease.ID)
	if err != nil {
		cli.Close()
		c.cancel()
		return nil, c.convertError(err, "")
	}
	c.lease = lease.ID
	c.state = registry.SessionState{Connected: true}
	if cfg.Username != "" {
		c.warnSimpleTokens(ctx)
	}
	c.wg.Add(1)
	go c.keepSession(ka)
	return c, nil
}

// warnSimpleTokens logs when the server hands out etcd's simple tokens:
// they die with a server restart, and the Go client renews them for unary
// calls only, so watches and the lease keep-alive would hang after one
// (docs/security.md: run etcd with --auth-token jwt,…). JWT tokens have
// three dot-separated parts; simple ones two.
func (c *Client) warnSimpleTokens(ctx context.Context) {
	actx, cancel := c.opCtx(ctx)
	defer cancel()
	resp, err := c.cli.Auth.Authenticate(actx, c.cfg.Username, c.cfg.Password)
	if err != nil || strings.Count(resp.Token, ".") == 2 {
		return
	}
	slog.Warn("registry: etcd issues simple auth tokens, which an etcd restart invalidates; watches would then hang until this instance restarts. Run etcd with --auth-token jwt,…",
		"endpoints", c.endpoints)
}

// unreachable explains why Open failed; bad arguments and credentials
// stay ErrInvalid and ErrDenied.
func (c *Client) unreachable(err error) error {
	err = c.convertError(err, "")
	var re *registry.Error
	if errors.Is(err, registry.ErrInvalid) || errors.Is(err, registry.ErrDenied) || !errors.As(err, &re) {
		return err
	}
	return registry.NewError(registry.Unavailable, "", fmt.Errorf("unreachable: %w", re.Err))
}

func ttlSeconds(cfg registry.Config) int64 {
	return max(int64(cfg.TimeToLive.Seconds()), 1)
}

func tlsConfig(t registry.TLSConfig) (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	cfg := &tls.Config{InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("registry.tls.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("registry.tls.caFile: no PEM certificate in %s", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("registry.tls.certFile/keyFile: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// opCtx bounds one call by the operation timeout.
func (c *Client) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.OperationTimeout)
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// key maps a registry path to an etcd key, validating it.
func (c *Client) key(p string) (string, error) {
	if err := registry.CheckPath(p); err != nil {
		return "", err
	}
	if c.isClosed() {
		return "", registry.NewError(registry.Closed, p, registry.ErrClosed)
	}
	return registry.Join(c.root, p), nil
}

// keyValue is key for a call that writes value, which it checks too.
func (c *Client) keyValue(p string, value []byte) (string, error) {
	k, err := c.key(p)
	if err != nil {
		return "", err
	}
	return k, registry.CheckValue(p, value)
}

// path maps an etcd key back to a registry path.
func (c *Client) path(key string) string {
	p := key[len(c.root):]
	if p == "" {
		return "/"
	}
	return p
}

// Session implements registry.Registry.
func (c *Client) Session() (registry.SessionState, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.changed
}

// setState publishes a new session state; callers hold c.mu.
func (c *Client) setStateLocked(s registry.SessionState) {
	c.state = s
	close(c.changed)
	c.changed = make(chan struct{})
}

// Close implements registry.Registry: it deletes the ephemeral nodes and
// revokes the lease. Revoking alone misses a node an operator's plain put
// detached from the lease while its re-attachment had not happened yet.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	lease := c.lease
	keys := make([]string, 0, len(c.owned))
	for k := range c.owned {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	c.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.OperationTimeout)
	for len(keys) > 0 {
		n := min(len(keys), 100) // etcd's default --max-txn-ops is 128
		ops := make([]clientv3.Op, n)
		for i, k := range keys[:n] {
			ops[i] = clientv3.OpDelete(k)
		}
		if _, err := c.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			break // the lease's end deletes what it still holds
		}
		keys = keys[n:]
	}
	_, err := c.cli.Revoke(ctx, lease)
	cancel()
	c.wg.Wait()
	cerr := c.cli.Close()
	c.mu.Lock()
	c.setStateLocked(registry.SessionState{Generation: c.state.Generation, Err: registry.ErrClosed})
	c.mu.Unlock()
	if err != nil {
		// The lease ends by itself within the TTL; say so rather than fail.
		return registry.NewError(registry.Unavailable, "", fmt.Errorf("revoke lease (ephemeral nodes vanish within %s instead): %w", c.cfg.TimeToLive, err))
	}
	if cerr != nil && c.ctx.Err() == nil {
		return c.convertError(cerr, "")
	}
	return nil
}

// Lease returns the client's current lease, for tests and diagnostics.
func (c *Client) Lease() clientv3.LeaseID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lease
}
