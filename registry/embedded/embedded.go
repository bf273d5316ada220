// Package embedded is the default registry: an etcd server inside the
// shardgate process, with its data in a directory kept across restarts, and
// an etcd client on it. The server listens on loopback by default, so that
// etcdctl works against it exactly as against a real etcd, and has
// authentication on: the root credential is generated on first start into
// a file beside the data directory (CredentialPath), which tools read.
package embedded

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
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
					"to share that registry set registry.type: etcd, serverLists: [%s] and credentialFile: <its dataDir>.credential, or set registry.embedded.clientURL/peerURL to free ports",
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
	// The root password is 144 random bits: bcrypt's work factor adds
	// nothing to it, and each client login would pay it.
	ecfg.BcryptCost = 4 // bcrypt.MinCost
	// JWT tokens survive a restart of this process, so that clients in
	// other processes (instances, tools) keep their watches; simple tokens
	// would die with it (docs/security.md).
	jwt, err := jwtKeys(ec.DataDir)
	if err != nil {
		return nil, registry.NewError(registry.Unavailable, "", err)
	}
	ecfg.AuthToken = jwt
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

	pw, err := ensureAuth(ctx, curl.Host, CredentialPath(ec.DataDir))
	if err != nil {
		srv.Close()
		return nil, err
	}
	ccfg := cfg
	ccfg.Type = registry.TypeEtcd
	ccfg.ServerLists = []string{curl.Host}
	ccfg.Username, ccfg.Password, ccfg.CredentialFile = RootUser, pw, ""
	cli, err := etcd.Open(ctx, ccfg)
	if err != nil {
		srv.Close()
		return nil, err
	}
	return &Registry{Client: cli, server: srv, ClientURL: curl.String()}, nil
}

// RootUser is the embedded registry's etcd user.
const RootUser = "root"

// CredentialPath is where the embedded registry with its data in dataDir
// keeps its root credential (registry.EmbeddedConfig.CredentialPath).
func CredentialPath(dataDir string) string {
	return registry.EmbeddedConfig{DataDir: dataDir}.CredentialPath()
}

// ensureAuth turns etcd authentication on, once: the root user gets the
// password of the credential file (created on first start), and from
// then on every client needs it. It returns that password.
func ensureAuth(ctx context.Context, endpoint, path string) (string, error) {
	pw, err := credential(path)
	if err != nil {
		return "", registry.NewError(registry.Unavailable, "", err)
	}
	admin, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), Context: ctx})
	if err != nil {
		return "", registry.NewError(registry.Unavailable, "", fmt.Errorf("embedded registry: %w", err))
	}
	defer admin.Close()
	st, err := admin.AuthStatus(ctx)
	if err != nil {
		return "", registry.NewError(registry.Unavailable, "", fmt.Errorf("embedded registry: auth status: %w", err))
	}
	if st.Enabled {
		return pw, nil // a wrong password fails the client's login next, naming the file
	}
	// First start, or a data directory from before authentication.
	_, err = admin.UserAdd(ctx, RootUser, pw)
	if errors.Is(err, rpctypes.ErrUserAlreadyExist) {
		_, err = admin.UserChangePassword(ctx, RootUser, pw)
	}
	if err == nil {
		_, err = admin.UserGrantRole(ctx, RootUser, "root")
	}
	if err == nil {
		_, err = admin.AuthEnable(ctx)
	}
	if err != nil {
		return "", registry.NewError(registry.Unavailable, "", fmt.Errorf("embedded registry: turning authentication on: %w", err))
	}
	return pw, nil
}

// jwtKeys returns etcd's --auth-token for JWT tokens signed with the RSA
// key kept beside the data directory (made on first start, mode 0600).
func jwtKeys(dataDir string) (string, error) {
	base := filepath.Clean(dataDir)
	priv, pub := base+".jwt.key", base+".jwt.pub"
	if _, err := os.Stat(priv); errors.Is(err, os.ErrNotExist) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return "", err
		}
		pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
			return "", fmt.Errorf("embedded registry: token key: %w", err)
		}
		if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
			return "", fmt.Errorf("embedded registry: token key: %w", err)
		}
	}
	return "jwt,pub-key=" + pub + ",priv-key=" + priv + ",sign-method=RS256,ttl=1h", nil
}

// credential reads the root password from path, or creates the file with
// a new random one.
func credential(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 18)
		if _, err := rand.Read(raw); err != nil {
			return "", err
		}
		pw := base64.RawURLEncoding.EncodeToString(raw)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", fmt.Errorf("embedded registry: credential file: %w", err)
		}
		_, err = f.WriteString(RootUser + ":" + pw + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return "", fmt.Errorf("embedded registry: credential file: %w", err)
		}
		return pw, nil
	}
	if err != nil {
		return "", fmt.Errorf("embedded registry: credential file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("embedded registry: credential file %s is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	u, pw, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok || u != RootUser || pw == "" {
		return "", fmt.Errorf("embedded registry: credential file %s does not hold %s:password", path, RootUser)
	}
	return pw, nil
}

// Close deletes the client's ephemeral nodes, then stops the server.
func (r *Registry) Close() error {
	err := r.Client.Close()
	r.server.Close()
	return err
}
