// Package instance runs one shardgate proxy instance: registry client,
// orchestration, routing runtime and the MySQL front end, started in the
// order that keeps promises to clients (state in force before the first
// connection, registered only once serving) and stopped in reverse.
package instance

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/shardgate/shardgate/admin"
	"github.com/shardgate/shardgate/internal/bootstrap"
	"github.com/shardgate/shardgate/internal/version"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/proxy"
)

// Instance is a running proxy instance.
type Instance struct {
	*bootstrap.Core
	Proxy     *proxy.Server
	Admin     *admin.Server
	Meta      orchestration.InstanceMeta
	ln        net.Listener
	adminSrv  *http.Server
	served    chan error
	closeOnce sync.Once
	closeErr  error
}

// Start brings an instance up from its config file's content. It returns
// once the instance serves and is registered.
func Start(ctx context.Context, f *orchestration.File) (*Instance, error) {
	core, err := bootstrap.Start(ctx, f, proxy.OpenPool)
	if err != nil {
		return nil, err
	}
	in := &Instance{Core: core, served: make(chan error, 1)}
	fail := func(err error) (*Instance, error) {
		in.Close()
		return nil, err
	}
	cfg := core.Config
	if in.Proxy, err = proxy.New(in.Runtime); err != nil {
		return fail(err)
	}
	var stmts *admin.Statements
	if f.Admin.Listen != "off" {
		stmts = admin.NewStatements()
		in.Proxy.SetObserver(stmts)
	}
	if in.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fail(fmt.Errorf("listen: %w", err))
	}
	go func() {
		err := in.Proxy.Serve(in.ln)
		in.served <- err
		close(in.served)
	}()
	in.Meta = orchestration.InstanceMeta{Address: in.ln.Addr().String(), Version: version.Version(), StartedAt: time.Now().UTC()}
	if f.Admin.Listen != "off" {
		if in.Admin, err = admin.New(in.Runtime, in.Orchestrator, in.Meta, stmts); err != nil {
			return fail(err)
		}
		token, err := f.Admin.AdminToken()
		if err != nil {
			return fail(err)
		}
		in.Admin.RequireToken(token, f.Admin.PublicMetrics)
		aln, err := net.Listen("tcp", f.Admin.Listen)
		if err != nil {
			return fail(fmt.Errorf("admin.listen: %w", err))
		}
		in.Meta.Admin = aln.Addr().String()
		in.adminSrv = &http.Server{Handler: in.Admin.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go in.adminSrv.Serve(aln)
	}
	if err := in.Register(ctx, &in.Meta); err != nil {
		return fail(err)
	}
	slog.Info("shardgate instance serving", "addr", in.ln.Addr().String(), "admin", in.Meta.Admin, "instance", in.ID(),
		"registry", core.RegistryConfig.Type, "root", core.RegistryConfig.Namespace,
		"master", cfg.MasterSlaveRule.MasterDataSourceName, "slaves", cfg.MasterSlaveRule.SlaveDataSourceNames, "sharded", cfg.ShardingRule != nil)
	return in, nil
}

// Addr is where the proxy listens.
func (in *Instance) Addr() net.Addr { return in.ln.Addr() }

// Wait blocks until the proxy stops serving.
func (in *Instance) Wait() error { return <-in.served }

// Close deregisters the instance, stops serving and releases everything.
// It may be called more than once.
func (in *Instance) Close() error {
	in.closeOnce.Do(func() { in.closeErr = in.Core.Close(in.stop) })
	return in.closeErr
}

// stop stops the front end: the proxy (sessions end), then the admin
// endpoint.
func (in *Instance) stop() error {
	var err error
	if in.Proxy != nil {
		err = in.Proxy.Close()
		if in.ln != nil {
			select {
			case <-in.served: // Serve returned; Wait sees the closed channel
			case <-time.After(10 * time.Second):
			}
		}
	} else if in.ln != nil {
		in.ln.Close()
	}
	if in.adminSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		in.adminSrv.Shutdown(ctx)
		cancel()
	}
	return err
}
