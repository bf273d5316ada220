package etcd_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/etcd"
)

// Several endpoints: when the member a client talks to dies, calls go on
// through the others.
func TestFailoverAcrossEndpoints(t *testing.T) {
	members := testenv.StartEtcdCluster(t, testenv.Require(t, "etcd"), 3)
	var eps []string
	for _, m := range members {
		eps = append(eps, m.Endpoint)
	}
	ctx := context.Background()
	// The members may still be electing their first leader: Open (which
	// needs a lease) is retried until the cluster serves.
	var c *etcd.Client
	for deadline := time.Now().Add(20 * time.Second); c == nil; {
		var err error
		if c, err = etcd.Open(ctx, cfgFor(eps...)); err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("cluster not serving: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	defer c.Close()
	// The cluster may still be electing its first leader.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := c.Put(ctx, "/k", []byte("1")); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("cluster not serving: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	members[0].Kill()
	deadline = time.Now().Add(15 * time.Second)
	for i := 0; i < 20; i++ {
		_, err := c.Put(ctx, "/k", []byte("v"))
		if err != nil && time.Now().After(deadline) {
			t.Fatalf("Put %d after one member died: %v", i, err)
		}
		if err != nil {
			i-- // leader election in progress; retry until the deadline
			time.Sleep(200 * time.Millisecond)
		}
	}
	got, _, err := c.Get(ctx, "/k")
	if err != nil || string(got) != "v" {
		t.Fatalf("Get after fail-over = %q, %v", got, err)
	}
}

func TestUserPasswordAuth(t *testing.T) {
	srv := testenv.StartEtcd(t, testenv.Require(t, "etcd"))
	for _, args := range [][]string{
		{"user", "add", "root:rootpw"},
		{"user", "grant-role", "root", "root"},
		{"auth", "enable"},
	} {
		if out, err := srv.Etcdctl(args...); err != nil {
			t.Fatalf("etcdctl %v: %v: %s", args, err, out)
		}
	}
	cfg := cfgFor(srv.Endpoint)
	cfg.Username, cfg.Password = "root", "rootpw"
	c := mustOpen(t, cfg)
	if _, err := c.Put(context.Background(), "/secret", []byte("x")); err != nil {
		t.Fatalf("Put with credentials: %v", err)
	}
	cfg.Password = "wrong"
	_, err := etcd.Open(context.Background(), cfg)
	if !errors.Is(err, registry.ErrDenied) || !strings.Contains(err.Error(), "auth") {
		t.Fatalf("Open with a wrong password: %v", err)
	}
	t.Logf("wrong password: %v", err)
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeCerts(t, dir)
	srv := testenv.StartEtcd(t, testenv.Require(t, "etcd"), "--cert-file", cert, "--key-file", key)
	cfg := cfgFor(srv.Endpoint)
	cfg.TLS.CAFile = ca
	c := mustOpen(t, cfg)
	if _, err := c.Put(context.Background(), "/tls", []byte("ok")); err != nil {
		t.Fatalf("Put over TLS: %v", err)
	}
	cfg.TLS.CAFile = filepath.Join(dir, "missing.pem")
	if _, err := etcd.Open(context.Background(), cfg); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("Open with a missing CA file: %v", err)
	}
}

// writeCerts writes a CA and a server certificate for 127.0.0.1.
func writeCerts(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "shardgate test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(srvKey)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", srvDER), write("server-key.pem", "EC PRIVATE KEY", keyDER)
}
