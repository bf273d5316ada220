package zookeeper

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/registrytest"
)

func TestMain(m *testing.M) {
	registrytest.ChildMain(openRegistry)
	goleak.VerifyTestMain(m)
}

// openRegistry is Open as a registrytest.Opener.
func openRegistry(ctx context.Context, cfg registry.Config) (registry.Registry, error) {
	c, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// sniffers remembers, per client opened by openSniffed, what its server
// said when the session was made: the session id and password that
// expireSession needs.
var sniffers sync.Map // *Client → *sessionSniffer

// openSniffed opens a client whose connections are watched for the
// session's credentials, so that tests can expire its session.
func openSniffed(ctx context.Context, cfg registry.Config) (registry.Registry, error) {
	s := &sessionSniffer{}
	c, err := open(ctx, cfg, s.dial)
	if err != nil {
		return nil, err
	}
	sniffers.Store(c, s)
	return c, nil
}

// harness describes a running ZooKeeper to the conformance suite.
func harness(z *testenv.ZooKeeper) *registrytest.Harness {
	return &registrytest.Harness{
		Config: registry.Config{
			Type:             registry.TypeZooKeeper,
			ServerLists:      []string{z.Addr()},
			OperationTimeout: 2 * time.Second,
		},
		Open:          openSniffed,
		Stop:          z.Stop,
		Start:         z.Start,
		ExpireSession: expireSession,
		TTL:           2 * time.Second,
	}
}

// expireSession makes the server end r's session the way it does for a
// client cut off too long: a second connection joins the session with its
// id and password and closes it. The server then drops the session and its
// ephemerals, and r's next reconnect learns that the session expired.
func expireSession(t testing.TB, r registry.Registry) {
	t.Helper()
	c := r.(*Client)
	v, ok := sniffers.Load(c)
	if !ok {
		t.Fatalf("expireSession: client was not opened by openSniffed")
	}
	s := v.(*sessionSniffer)
	id, passwd, timeout := s.get()
	if id == 0 || id != c.conn.SessionID() {
		t.Fatalf("expireSession: sniffed session 0x%x, client has 0x%x", id, c.conn.SessionID())
	}
	// The client reconnects at once when the server drops its connection,
	// and would take the session back before it is closed: hold its dials.
	s.hold(true)
	defer s.hold(false)
	if err := closeSession(c.conn.Server(), id, passwd, timeout); err != nil {
		t.Fatalf("expireSession: %v", err)
	}
}

// sessionSniffer reads the connect response on each new connection.
type sessionSniffer struct {
	mu      sync.Mutex
	id      int64
	passwd  []byte
	timeout int32
	held    bool
}

func (s *sessionSniffer) hold(h bool) {
	s.mu.Lock()
	s.held = h
	s.mu.Unlock()
}

func (s *sessionSniffer) get() (int64, []byte, int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id, s.passwd, s.timeout
}

func (s *sessionSniffer) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	s.mu.Lock()
	held := s.held
	s.mu.Unlock()
	if held {
		return nil, errors.New("dial held by the test")
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, s: s}, nil
}

type sniffConn struct {
	net.Conn
	s    *sessionSniffer
	buf  []byte
	done bool
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.done && n > 0 {
		c.buf = append(c.buf, p[:n]...)
		if len(c.buf) >= 4 {
			l := int(binary.BigEndian.Uint32(c.buf))
			if len(c.buf) >= 4+l {
				c.done = true
				if id, pw, to, ok := parseConnectResponse(c.buf[4 : 4+l]); ok && id != 0 {
					c.s.mu.Lock()
					c.s.id, c.s.passwd, c.s.timeout = id, pw, to
					c.s.mu.Unlock()
				}
				c.buf = nil
			}
		}
	}
	return n, err
}

// parseConnectResponse decodes ZooKeeper's ConnectResponse: protocol
// version, timeout, session id, password.
func parseConnectResponse(b []byte) (id int64, passwd []byte, timeout int32, ok bool) {
	if len(b) < 20 {
		return 0, nil, 0, false
	}
	timeout = int32(binary.BigEndian.Uint32(b[4:]))
	id = int64(binary.BigEndian.Uint64(b[8:]))
	l := int(int32(binary.BigEndian.Uint32(b[16:])))
	if l < 0 || len(b) < 20+l {
		return 0, nil, 0, false
	}
	return id, append([]byte(nil), b[20:20+l]...), timeout, true
}

// closeSession joins session id on addr and closes it (opCloseSession).
func closeSession(addr string, id int64, passwd []byte, timeout int32) error {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	req := binary.BigEndian.AppendUint32(nil, 0) // protocol version
	req = binary.BigEndian.AppendUint64(req, 0)  // last zxid seen
	req = binary.BigEndian.AppendUint32(req, uint32(timeout))
	req = binary.BigEndian.AppendUint64(req, uint64(id))
	req = binary.BigEndian.AppendUint32(req, uint32(len(passwd)))
	req = append(req, passwd...)
	if err := writeFrame(conn, req); err != nil {
		return err
	}
	resp, err := readFrame(conn)
	if err != nil {
		return fmt.Errorf("connect response: %w", err)
	}
	if got, _, _, ok := parseConnectResponse(resp); !ok || got != id {
		return fmt.Errorf("server did not let us join session 0x%x (got 0x%x)", id, got)
	}
	closeReq := binary.BigEndian.AppendUint32(nil, 1)              // xid
	closeReq = binary.BigEndian.AppendUint32(closeReq, 0xfffffff5) // opCloseSession (-11)
	if err := writeFrame(conn, closeReq); err != nil {
		return err
	}
	resp, err = readFrame(conn)
	if err != nil {
		return fmt.Errorf("close response: %w", err)
	}
	if len(resp) < 16 {
		return errors.New("short close response")
	}
	if code := int32(binary.BigEndian.Uint32(resp[12:])); code != 0 {
		return fmt.Errorf("closeSession failed with code %d", code)
	}
	return nil
}

func writeFrame(w io.Writer, b []byte) error {
	_, err := w.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...))
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(h[:]))
	_, err := io.ReadFull(r, b)
	return b, err
}
