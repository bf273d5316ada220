package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Backend types.
const (
	TypeEmbedded  = "embedded"
	TypeEtcd      = "etcd"
	TypeZooKeeper = "zookeeper"
	// TypeMemory is registry/memory's in-process server, for tests: its
	// serverLists name a memory.Server the process started.
	TypeMemory = "memory"
)

// Config says how to reach a registry center. The YAML names follow
// ShardingSphere's orchestration settings where they fit.
type Config struct {
	// Type is embedded (default), etcd or zookeeper.
	Type string `yaml:"type"`
	// ServerLists are the servers, host:port (etcd also takes URLs).
	// Several endpoints give fail-over. ShardingSphere's one string
	// "a:2181,b:2181" is accepted too.
	ServerLists ServerList `yaml:"serverLists"`
	// Namespace is the root every path lives under, e.g. "/shardgate/app"
	// (ShardingSphere's "your_zk_namespace", without the leading slash, is
	// taken as "/your_zk_namespace").
	Namespace string `yaml:"namespace"`
	// TimeToLive bounds how long an ephemeral node outlives its dead owner:
	// the etcd lease TTL or the ZooKeeper session timeout. Default 10s.
	TimeToLive time.Duration `yaml:"timeToLive"`
	// OperationTimeout bounds each call to the server. Default 3s.
	OperationTimeout time.Duration `yaml:"operationTimeout"`
	// RetryInterval is the first pause before a reconnect or re-watch; it
	// doubles up to MaxRetryInterval. Defaults 100ms and 5s.
	RetryInterval    time.Duration `yaml:"retryInterval"`
	MaxRetryInterval time.Duration `yaml:"maxRetryInterval"`
	// Username and Password: etcd user auth, or ZooKeeper digest auth (the
	// client's nodes then get an ACL for that identity only).
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// CredentialFile holds "user:password" (read at connect time, so the
	// password is in no config file or registry node): for example the
	// embedded registry's root credential, which it writes beside its
	// data directory. Username/Password win when set.
	CredentialFile string `yaml:"credentialFile,omitempty"`
	// TLS towards etcd.
	TLS TLSConfig `yaml:"tls"`
	// Embedded server settings (type embedded).
	Embedded EmbeddedConfig `yaml:"embedded"`

	// ShardingSphere's spellings, folded into the fields above by
	// WithDefaults (a conflict with them is a validation error).
	TimeToLiveSeconds            int `yaml:"timeToLiveSeconds,omitempty"`
	OperationTimeoutMilliseconds int `yaml:"operationTimeoutMilliseconds,omitempty"`
	RetryIntervalMilliseconds    int `yaml:"retryIntervalMilliseconds,omitempty"`
	MaxRetryIntervalMilliseconds int `yaml:"maxRetryIntervalMilliseconds,omitempty"`
	// Digest is ZooKeeper's "user:password".
	Digest string `yaml:"digest,omitempty"`

	conflicts []string
}

// ServerList is a list of servers, written as a YAML list or as one
// comma-separated string.
type ServerList []string

// UnmarshalYAML accepts a list or a comma-separated string.
func (l *ServerList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = nil
		for _, s := range strings.Split(n.Value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*l = append(*l, s)
			}
		}
		return nil
	}
	var v []string
	if err := n.Decode(&v); err != nil {
		return err
	}
	*l = v
	return nil
}

// legacy folds ShardingSphere's spellings into the canonical fields; it
// reports the conflicts.
func (c *Config) legacy() []string {
	var conflicts []string
	fold := func(d *time.Duration, n int, unit time.Duration, name, canon string) {
		if n <= 0 {
			return
		}
		v := time.Duration(n) * unit
		if *d != 0 && *d != v {
			conflicts = append(conflicts, fmt.Sprintf("%s (%d) and %s (%s) disagree", name, n, canon, *d))
			return
		}
		*d = v
	}
	fold(&c.TimeToLive, c.TimeToLiveSeconds, time.Second, "timeToLiveSeconds", "timeToLive")
	fold(&c.OperationTimeout, c.OperationTimeoutMilliseconds, time.Millisecond, "operationTimeoutMilliseconds", "operationTimeout")
	fold(&c.RetryInterval, c.RetryIntervalMilliseconds, time.Millisecond, "retryIntervalMilliseconds", "retryInterval")
	fold(&c.MaxRetryInterval, c.MaxRetryIntervalMilliseconds, time.Millisecond, "maxRetryIntervalMilliseconds", "maxRetryInterval")
	if c.Digest != "" {
		u, p, ok := strings.Cut(c.Digest, ":")
		switch {
		case !ok || u == "":
			conflicts = append(conflicts, "digest must be user:password")
		case c.Username != "" && (c.Username != u || c.Password != p):
			conflicts = append(conflicts, "digest and username/password disagree")
		default:
			c.Username, c.Password = u, p
		}
	}
	if c.Namespace != "" && !strings.HasPrefix(c.Namespace, "/") {
		c.Namespace = "/" + c.Namespace
	}
	return conflicts
}

// TLSConfig holds PEM file paths.
type TLSConfig struct {
	CAFile             string `yaml:"caFile"`
	CertFile           string `yaml:"certFile"`
	KeyFile            string `yaml:"keyFile"`
	InsecureSkipVerify bool   `yaml:"insecureSkipVerify"`
}

// Enabled reports whether any TLS setting is present.
func (t TLSConfig) Enabled() bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify
}

// EmbeddedConfig configures the in-process etcd server.
type EmbeddedConfig struct {
	// DataDir keeps the data across restarts. Default "shardgate-data/registry".
	DataDir string `yaml:"dataDir"`
	// ClientURL is where the embedded server listens for clients, so that
	// etcdctl and other instances can reach it. Default http://127.0.0.1:2379.
	ClientURL string `yaml:"clientURL"`
	// PeerURL is its raft peer address. Default http://127.0.0.1:2380.
	PeerURL string `yaml:"peerURL"`
}

// CredentialPath is where the embedded registry with these settings keeps
// its root credential: "root:password" in a file of mode 0600 beside its
// data directory (etcd owns the directory's contents). Tools on the host
// read it (credentialFile; etcdctl --user "$(cat …)").
func (e EmbeddedConfig) CredentialPath() string {
	d := e.DataDir
	if d == "" {
		d = DefaultEmbeddedDataDir
	}
	return filepath.Clean(d) + ".credential"
}

// Defaults.
const (
	DefaultTimeToLive       = 10 * time.Second
	DefaultOperationTimeout = 3 * time.Second
	DefaultRetryInterval    = 100 * time.Millisecond
	DefaultMaxRetryInterval = 5 * time.Second
	DefaultEmbeddedDataDir  = "shardgate-data/registry"
	DefaultEmbeddedClient   = "http://127.0.0.1:2379"
	DefaultEmbeddedPeer     = "http://127.0.0.1:2380"
)

// WithDefaults returns c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	c.conflicts = c.legacy()
	if c.Type == "" {
		c.Type = TypeEmbedded
	}
	c.Type = strings.ToLower(c.Type)
	if c.TimeToLive == 0 {
		c.TimeToLive = DefaultTimeToLive
	}
	if c.OperationTimeout == 0 {
		c.OperationTimeout = DefaultOperationTimeout
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.MaxRetryInterval == 0 {
		c.MaxRetryInterval = DefaultMaxRetryInterval
	}
	if c.Type == TypeEmbedded {
		if c.Embedded.DataDir == "" {
			c.Embedded.DataDir = DefaultEmbeddedDataDir
		}
		if c.Embedded.ClientURL == "" {
			c.Embedded.ClientURL = DefaultEmbeddedClient
		}
		if c.Embedded.PeerURL == "" {
			c.Embedded.PeerURL = DefaultEmbeddedPeer
		}
	}
	return c
}

// Validate checks a config that has its defaults; errors name the key,
// prefixed by prefix (e.g. "orchestration.registry").
func (c Config) Validate(prefix string) error {
	key := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	var errs []error
	bad := func(k, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key(k), fmt.Sprintf(format, args...)))
	}
	for _, m := range c.conflicts {
		bad(strings.Fields(m)[0], "%s", m)
	}
	switch c.Type {
	case TypeEmbedded:
	case TypeEtcd, TypeZooKeeper, TypeMemory:
		if len(c.ServerLists) == 0 {
			bad("serverLists", "at least one server is required for type %s", c.Type)
		}
	default:
		bad("type", "unknown registry type %q (want embedded, etcd or zookeeper)", c.Type)
	}
	for i, s := range c.ServerLists {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t") {
			bad(fmt.Sprintf("serverLists[%d]", i), "invalid server %q", s)
		}
	}
	if c.Namespace != "" {
		if err := CheckPath(c.Namespace); err != nil || c.Namespace == "/" {
			bad("namespace", "%q must be an absolute path such as /shardgate/app", c.Namespace)
		}
	}
	if c.TimeToLive < time.Second {
		bad("timeToLive", "%s is below the minimum of 1s", c.TimeToLive)
	}
	if c.TimeToLive%time.Second != 0 && c.Type != TypeZooKeeper {
		bad("timeToLive", "%s must be whole seconds for etcd leases", c.TimeToLive)
	}
	if c.OperationTimeout <= 0 {
		bad("operationTimeout", "must be positive, got %s", c.OperationTimeout)
	}
	if c.RetryInterval <= 0 {
		bad("retryInterval", "must be positive, got %s", c.RetryInterval)
	}
	if c.MaxRetryInterval < c.RetryInterval {
		bad("maxRetryInterval", "%s is below retryInterval %s", c.MaxRetryInterval, c.RetryInterval)
	}
	if (c.Username == "") != (c.Password == "") {
		bad("username", "username and password must be set together")
	}
	if c.TLS.Enabled() && c.Type == TypeZooKeeper {
		bad("tls", "TLS is supported for etcd only")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls.certFile", "certFile and keyFile must be set together")
	}
	return errors.Join(errs...)
}

// LoadCredential sets Username and Password from CredentialFile when they
// are unset.
func (c *Config) LoadCredential() error {
	if c.CredentialFile == "" || c.Username != "" {
		return nil
	}
	b, err := os.ReadFile(c.CredentialFile)
	if err != nil {
		return fmt.Errorf("registry.credentialFile: %w", err)
	}
	u, p, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok || u == "" || p == "" {
		return fmt.Errorf("registry.credentialFile: %s does not hold user:password", c.CredentialFile)
	}
	c.Username, c.Password = u, p
	return nil
}

// Backoff returns the pause before retry number n (0-based).
func (c Config) Backoff(n int) time.Duration {
	d := c.RetryInterval
	for i := 0; i < n && d < c.MaxRetryInterval; i++ {
		d *= 2
	}
	return min(d, c.MaxRetryInterval)
}
