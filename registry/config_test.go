package registry

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.Type != TypeEmbedded || c.TimeToLive != DefaultTimeToLive || c.OperationTimeout != DefaultOperationTimeout ||
		c.Embedded.DataDir != DefaultEmbeddedDataDir || c.Embedded.ClientURL != DefaultEmbeddedClient {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate("registry"); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
}

func TestConfigValidateNamesTheKey(t *testing.T) {
	tests := []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Type = "consul" }, `registry.type: unknown registry type "consul"`},
		{func(c *Config) { c.Type = TypeEtcd }, "registry.serverLists: at least one server"},
		{func(c *Config) { c.Type = TypeZooKeeper; c.ServerLists = []string{"a b"} }, "registry.serverLists[0]: invalid server"},
		{func(c *Config) { c.Namespace = "relative" }, "registry.namespace:"},
		{func(c *Config) { c.TimeToLive = 500 * time.Millisecond }, "registry.timeToLive: 500ms is below the minimum"},
		{func(c *Config) { c.TimeToLive = 1500 * time.Millisecond }, "registry.timeToLive: 1.5s must be whole seconds"},
		{func(c *Config) { c.OperationTimeout = -1 }, "registry.operationTimeout: must be positive"},
		{func(c *Config) { c.MaxRetryInterval = time.Millisecond }, "registry.maxRetryInterval:"},
		{func(c *Config) { c.Username = "u" }, "registry.username: username and password must be set together"},
		{func(c *Config) { c.Type = TypeZooKeeper; c.ServerLists = []string{"h:1"}; c.TLS.CAFile = "x" }, "registry.tls: TLS is supported for etcd only"},
		{func(c *Config) { c.TLS.CertFile = "x" }, "registry.tls.certFile:"},
	}
	for _, tc := range tests {
		c := Config{}.WithDefaults()
		tc.mod(&c)
		err := c.Validate("registry")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate = %v, want it to contain %q", err, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := Config{RetryInterval: 100 * time.Millisecond, MaxRetryInterval: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := c.Backoff(i); got != w*time.Millisecond {
			t.Errorf("Backoff(%d) = %s, want %s", i, got, w*time.Millisecond)
		}
	}
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"/", "/a", "/a b/ü", "/10.0.0.5@-@42"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "a", "/a/", "//", "/a/./b", "/a/..", "/\x00", "/\x7f", "/\ufff0"} {
		if err := CheckPath(p); err == nil {
			t.Errorf("CheckPath(%q) accepted a bad path", p)
		}
	}
}

// ShardingSphere's spellings are accepted where its users would paste
// them, and a conflict with the canonical key is an error.
func TestShardingSphereSpellings(t *testing.T) {
	var c Config
	if err := yaml.Unmarshal([]byte(`
type: zookeeper
serverLists: "10.0.0.1:2181, 10.0.0.2:2181"
namespace: your_zk_namespace
timeToLiveSeconds: 60
operationTimeoutMilliseconds: 500
retryIntervalMilliseconds: 200
digest: app:secret
`), &c); err != nil {
		t.Fatal(err)
	}
	c = c.WithDefaults()
	if err := c.Validate("registry"); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.ServerLists, " ") != "10.0.0.1:2181 10.0.0.2:2181" || c.Namespace != "/your_zk_namespace" ||
		c.TimeToLive != time.Minute || c.OperationTimeout != 500*time.Millisecond || c.RetryInterval != 200*time.Millisecond ||
		c.Username != "app" || c.Password != "secret" {
		t.Fatalf("%+v", c)
	}
	var bad Config
	if err := yaml.Unmarshal([]byte("type: etcd\nserverLists: [a:1]\ntimeToLive: 5s\ntimeToLiveSeconds: 6\ndigest: nocolon\n"), &bad); err != nil {
		t.Fatal(err)
	}
	err := bad.WithDefaults().Validate("registry")
	if err == nil || !strings.Contains(err.Error(), "registry.timeToLiveSeconds: timeToLiveSeconds (6) and timeToLive (5s) disagree") ||
		!strings.Contains(err.Error(), "registry.digest: digest must be user:password") {
		t.Fatalf("conflicts: %v", err)
	}
}
