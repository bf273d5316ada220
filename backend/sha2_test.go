package backend

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/config"
)

// sha2Server is the server side of MySQL 8's caching_sha2_password with
// an empty cache (full authentication, no TLS), written from the protocol
// description: MariaDB, the server these tests run elsewhere, has no such
// plugin, and no MySQL 8 is packaged here. It answers one login and
// reports what it saw.
type sha2Server struct {
	ln       net.Listener
	key      *rsa.PrivateKey
	password string
	asked    chan bool  // the client requested the public key
	got      chan error // the login's outcome as the server saw it
}

func startSHA2Server(t *testing.T, password string) *sha2Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &sha2Server{ln: ln, key: key, password: password, asked: make(chan bool, 1), got: make(chan error, 1)}
	t.Cleanup(func() { ln.Close() })
	go s.serve()
	return s
}

func (s *sha2Server) pem() []byte {
	der, _ := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func (s *sha2Server) serve() {
	nc, err := s.ln.Accept()
	if err != nil {
		return
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := wire.NewConn(nc, 4096)
	salt := []byte("abcdefghijklmnopqrst")
	caps := uint32(wire.Capabilities | wire.ClientSessionTrack)
	b := append([]byte{10}, "8.0.36"...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 7)
	b = append(append(b, salt[:8]...), 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps))
	b = append(b, 45)
	b = binary.LittleEndian.AppendUint16(b, wire.StatusAutocommit)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps>>16))
	b = append(b, 21)
	b = append(b, make([]byte, 10)...)
	b = append(append(b, salt[8:]...), 0)
	b = append(append(b, "caching_sha2_password"...), 0)
	fail := func(err error) {
		c.WritePacket(wire.AppendError(nil, wire.NewError(1045, "28000", "%v", err)))
		c.Flush()
		s.got <- err
	}
	c.Seq = 0
	if c.WritePacket(b) != nil || c.Flush() != nil {
		return
	}
	if _, err := c.ReadPacket(); err != nil { // the handshake response
		s.got <- err
		return
	}
	c.WritePacket([]byte{0x01, 4}) // perform full authentication
	c.Flush()
	p, err := c.ReadPacket()
	if err != nil {
		s.got <- err
		return
	}
	asked := len(p) == 1 && p[0] == 2
	s.asked <- asked
	if asked {
		c.WritePacket(append([]byte{0x01}, s.pem()...))
		c.Flush()
		if p, err = c.ReadPacket(); err != nil {
			s.got <- err
			return
		}
	}
	plain, err := rsa.DecryptOAEP(sha1.New(), nil, s.key, p, nil)
	if err != nil {
		fail(err)
		return
	}
	for i := range plain {
		plain[i] ^= salt[i%len(salt)]
	}
	if string(plain) != s.password+"\x00" {
		fail(errors.New("Access denied: wrong password"))
		return
	}
	c.WritePacket(wire.AppendOK(nil, 0, 0, wire.StatusAutocommit, 0))
	c.Flush()
	s.got <- nil
}

func (s *sha2Server) ds(t *testing.T, password string) *config.DataSource {
	return &config.DataSource{Addr: s.ln.Addr().String(), Username: "app", Password: password, ConnectTimeout: 5 * time.Second}
}

// caching_sha2_password full authentication without TLS: the password
// goes encrypted with the server's RSA key — from serverPublicKey, or
// asked of the server with allowPublicKeyRetrieval; with neither, a clear
// error and nothing sent in clear.
func TestCachingSHA2FullAuthRSA(t *testing.T) {
	t.Run("retrieval", func(t *testing.T) {
		s := startSHA2Server(t, "s3cret")
		ds := s.ds(t, "s3cret")
		ds.AllowPublicKeyRetrieval = true
		c, err := Dial(context.Background(), ds)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if !<-s.asked || <-s.got != nil {
			t.Fatal("the key was not asked for, or the login failed on the server")
		}
	})
	t.Run("key file", func(t *testing.T) {
		s := startSHA2Server(t, "s3cret")
		ds := s.ds(t, "s3cret")
		ds.ServerPublicKey = filepath.Join(t.TempDir(), "public_key.pem")
		os.WriteFile(ds.ServerPublicKey, s.pem(), 0o600)
		c, err := Dial(context.Background(), ds)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if <-s.asked || <-s.got != nil {
			t.Fatal("the key was asked for although configured, or the login failed")
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		s := startSHA2Server(t, "s3cret")
		ds := s.ds(t, "guess")
		ds.AllowPublicKeyRetrieval = true
		_, err := Dial(context.Background(), ds)
		var se *wire.SQLError
		if !errors.As(err, &se) || se.Code != 1045 {
			t.Fatalf("got %v, want the server's 1045", err)
		}
	})
	t.Run("neither", func(t *testing.T) {
		s := startSHA2Server(t, "s3cret")
		_, err := Dial(context.Background(), s.ds(t, "s3cret"))
		if !errors.Is(err, ErrFullAuth) {
			t.Fatalf("got %v, want ErrFullAuth", err)
		}
	})
	t.Run("bad key file", func(t *testing.T) {
		s := startSHA2Server(t, "s3cret")
		ds := s.ds(t, "s3cret")
		ds.ServerPublicKey = filepath.Join(t.TempDir(), "nokey.pem")
		os.WriteFile(ds.ServerPublicKey, []byte("not a key"), 0o600)
		_, err := Dial(context.Background(), ds)
		if err == nil || !strings.Contains(err.Error(), "serverPublicKey") {
			t.Fatalf("got %v, want an error naming serverPublicKey", err)
		}
	})
}
