package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardgate/shardgate/backend"
	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/engine"
)

// Server serves the MySQL protocol on a listener.
type Server struct {
	rt  *engine.Runtime
	obs Observer
	tls *tls.Config
	log *slog.Logger

	nextConnID atomic.Uint32

	logins loginGuard

	collMu     sync.Mutex
	collations map[byte]string // client collation id → SET NAMES statement

	mu       sync.Mutex
	ln       net.Listener
	sessions map[*session]struct{}
	perUser  map[string]int // logged-in sessions by user
	closed   bool
	wg       sync.WaitGroup
}

// New creates a server over a runtime. TLS towards clients is taken from
// the runtime's config (tls.certFile, tls.keyFile).
func New(rt *engine.Runtime) (*Server, error) {
	s := &Server{rt: rt, log: slog.Default(), sessions: map[*session]struct{}{}, perUser: map[string]int{}, collations: map[byte]string{}}
	t := rt.Snapshot().Config.TLS
	if t.Enabled() {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return s, nil
}

// Serve accepts connections until Close; it returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.ln = ln
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		sess := newSession(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		if max := s.rt.Snapshot().Config.Props.MaxConnections; len(s.sessions) >= max {
			s.mu.Unlock()
			go refuse(nc, max)
			continue
		}
		s.sessions[sess] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.run(sess)
	}
}

// login counts a session of user against users[].maxConnections; false
// when the user is at its limit.
func (s *Server) login(user string) bool {
	max := s.rt.Snapshot().Config.UserMaxConnections(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	if max > 0 && s.perUser[user] >= max {
		return false
	}
	s.perUser[user]++
	return true
}

func (s *Server) logout(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUser[user]--; s.perUser[user] <= 0 {
		delete(s.perUser, user)
	}
}

// refuse answers a connection over props.maxConnections with the server's
// own error in place of the greeting, and closes it.
func refuse(nc net.Conn, max int) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(time.Second))
	c := wire.NewConn(nc, 256)
	c.WritePacket(wire.AppendError(nil, wire.NewError(1040, "HY000", "Too many connections (props.maxConnections %d)", max)))
	c.Flush()
}

func (s *Server) run(sess *session) {
	defer s.wg.Done()
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("session panic", "conn", sess.id, "panic", v, "stack", string(debug.Stack()))
		}
		sess.close()
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
	}()
	if s.obs != nil {
		sess.obs = s.obs.Session() // ended by close
	}
	sess.serve()
}

// Addr is the listening address (nil before Serve).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops accepting, closes every client connection (their backend
// transactions are rolled back) and waits for the sessions to end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	for sess := range s.sessions {
		sess.raw.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// OpenPool is the proxy's engine.PoolFactory: wire-protocol pools
// (backend.Pool).
func OpenPool(name string, ds *config.DataSource, readOnly bool, down func(error)) (engine.Pool, error) {
	return backend.NewPool(name, ds, readOnly, down), nil
}

// poolOf is the proxy's pool of a data source of a runtime opened with
// OpenPool.
func poolOf(ds *engine.DataSource) *backend.Pool { return ds.Pool.(*backend.Pool) }
