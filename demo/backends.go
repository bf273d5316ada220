package demo

import (
	"context"
	"fmt"
	"net"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/mysql"
)

// Backend is one in-process MySQL-compatible server of the demo.
type Backend struct {
	Name     string
	ServerID int
	Addr     string
	srv      *server.Server
}

// Close stops the backend.
func (b *Backend) Close() error { return b.srv.Close() }

// startBackends starts a master and its slaves (server ids from firstID). They share one in-memory
// database, which stands in for replication: a write through the master is
// visible on every slave at once. Each answers SELECT @@server_id with its
// own id, so a user sees which backend served a read.
func startBackends(names []string, addrs []string, firstID int) ([]*Backend, error) {
	pro := memory.NewDBProvider(memory.NewDatabase("demo"))
	var out []*Backend
	for i, name := range names {
		id := firstID + i
		engine := sqle.NewDefault(pro)
		base := memory.NewSessionBuilder(pro)
		sb := func(ctx context.Context, conn *mysql.Conn, addr string) (sql.Session, error) {
			s, err := base(ctx, conn, addr)
			if err != nil {
				return nil, err
			}
			sctx := sql.NewContext(ctx, sql.WithSession(s))
			if err := s.SetSessionVariable(sctx, "server_id", uint32(id)); err != nil {
				return nil, fmt.Errorf("demo backend %s: server_id: %w", name, err)
			}
			return s, nil
		}
		l, err := net.Listen("tcp", addrs[i])
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("demo backend %s: %w", name, err)
		}
		srv, err := server.NewServer(server.Config{Protocol: "tcp", Listener: l}, engine, sql.NewContext, sb, nil)
		if err != nil {
			l.Close()
			closeAll(out)
			return nil, fmt.Errorf("demo backend %s: %w", name, err)
		}
		go srv.Start()
		out = append(out, &Backend{Name: name, ServerID: id, Addr: l.Addr().String(), srv: srv})
	}
	return out, nil
}

func closeAll(bs []*Backend) {
	for _, b := range bs {
		b.Close()
	}
}
