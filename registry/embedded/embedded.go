// Package embedded is the default registry: an etcd server inside the
// shardgate process, with its data in a directory kept across restarts, and
// an etcd client on it. The server listens on loopback by default, so that
// etcdctl works against it exactly as against a real etcd.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/etcd"
)

// Registry is an etcd client on an in-process etcd server. Close stops both.
type Registry struct {
	*etcd.Client
	server *embed.Etcd
	// ClientURL is where the server serves clients (etcdctl --endpoints).
	ClientURL string
}

// Open starts the embedded server (ready within a few seconds, fails with
// ErrUnavailable if it cannot start) and connects a client to it.
func Open(ctx context.Context, cfg registry.Config) (*Registry, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate("registry"); err != nil {
		return nil, registry.NewError(registry.Invalid, "", err)
	}
	ec := cfg.Embedded
	curl, err := url.Parse(ec.ClientURL)
	if err != nil || curl.Host == "" {
		return nil, registry.NewError(registry.Invalid, "", fmt.Errorf("registry.embedded.clientURL: invalid URL %q", ec.ClientURL))
	}
	purl, err := url.Parse(ec.PeerURL)
	if err != nil || purl.Host == "" {
		return nil, registry.NewError(registry.Invalid, "", fmt.Errorf("registry.embedded.peerURL: invalid URL %q", ec.PeerURL))
	}
	for _, u := range []*url.URL{curl, purl} {
		if c, err := net.DialTimeout("tcp", u.Host, 200*time.Millisecond); err == nil {
			c.Close()
			return nil, registry.NewError(registry.Unavailable, "", fmt.Errorf(
				"embedded registry: %s is already in use (another shardgate instance or an etcd?); "+
					"to share that registry set registry.type: etcd and serverLists: [%s], or set registry.embedded.clientURL/peerURL to free ports",
				u.String(), curl.Host))
		}
	}
	if err := os.MkdirAll(ec.DataDir, 0o700); err != nil {
		return nil, registry.NewError(registry.Unavailable, "", fmt.Errorf("embedded registry: data dir: %w", err))
	}

	ecfg := embed.NewConfig()
	ecfg.Name = "shardgate"
	ecfg.Dir = ec.DataDir
	ecfg.ListenClientUrls = []url.URL{*curl}
	ecfg.AdvertiseClientUrls = []url.URL{*curl}
	ecfg.ListenPeerUrls = []url.URL{*purl}
	ecfg.AdvertisePeerUrls = []url.URL{*purl}
	ecfg.InitialCluster = ecfg.InitialClusterFromName(ecfg.Name)
	// etcd's own zap logs would interleave with ours; the server's fatal
	// errors still reach us through srv.Err() and failed calls.
	ecfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	ecfg.AutoCompactionMode = "periodic"
	ecfg.AutoCompactionRetention = "1h"

	srv, err := embed.StartEtcd(ecfg)
	if err != nil {
		return nil, registry.NewError(registry.Unavailable, "", fmt.Errorf("embedded registry: start etcd in %s: %w", ec.DataDir, err))
	}
	wait := time.NewTimer(max(cfg.OperationTimeout, 10*time.Second))
	defer wait.Stop()
	select {
	case <-srv.Server.ReadyNotify():
	case err := <-srv.Err():
		srv.Close()
		return nil, registry.NewError(registry.Unavailable, "", fmt.Errorf("embedded registry: %w", err))
	case <-wait.C:
		srv.Close()
		return nil, registry.NewError(registry.Timeout, "", errors.New("embedded registry: etcd server not ready in time"))
	case <-ctx.Done():
		srv.Close()
		return nil, registry.NewError(registry.Timeout, "", fmt.Errorf("embedded registry: %w", ctx.Err()))
	}

	ccfg := cfg
	ccfg.Type = registry.TypeEtcd
	ccfg.ServerLists = []string{curl.Host}
	cli, err := etcd.Open(ctx, ccfg)
	if err != nil {
		srv.Close()
		return nil, err
	}
	return &Registry{Client: cli, server: srv, ClientURL: curl.String()}, nil
}

// Close deletes the client's ephemeral nodes, then stops the server.
func (r *Registry) Close() error {
	err := r.Client.Close()
	r.server.Close()
	return err
}
