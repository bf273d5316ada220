package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `
listen: 127.0.0.1:3307
users: [{name: app, password: pw}]
dataSources:
  m: {url: 127.0.0.1:3316, username: root, password: x, database: app}
  s0: {url: "mysql://127.0.0.1:3317/app2", username: root}
  s1: {url: "jdbc:mysql://db1:3318/app3?useSSL=false", username: root, weight: 3}
masterSlaveRule:
  masterDataSourceName: m
  slaveDataSourceNames: [s0, s1]
  loadBalanceAlgorithmType: weight
props:
  readYourWrites: Window
  readYourWritesWindow: 250ms
`

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.DataSources["s0"]; got.Addr != "127.0.0.1:3317" || got.Database != "app2" || got.MaxPoolSize != DefaultMaxPoolSize || got.ConnectTimeout != DefaultConnectTimeout {
		t.Errorf("s0 = %+v", got)
	}
	if got := c.DataSources["s1"]; got.Addr != "db1:3318" || got.Database != "app3" || got.Weight != 3 {
		t.Errorf("s1 = %+v", got)
	}
	if c.MasterSlaveRule.LoadBalanceAlgorithmType != Weight || c.Props.ReadYourWrites != RYWWindow || c.Props.ReadYourWritesWindow != 250*time.Millisecond {
		t.Errorf("rule/props = %+v %+v", c.MasterSlaveRule, c.Props)
	}
	if pw, ok := c.UserPassword("app"); !ok || pw != "pw" {
		t.Errorf("UserPassword = %q %v", pw, ok)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate is not idempotent: %v", err)
	}
}

func TestParseErrorsNameKeyPaths(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"empty", `{}`, []string{"users: at least one", "dataSources: at least one", "masterSlaveRule.masterDataSourceName: required"}},
		{"unknown key", good + "bogus: 1\n", []string{"field bogus not found"}},
		{"bad ds", `
users: [{name: a}, {name: a}, {}]
dataSources:
  m: {url: "nohost", username: root, maxPoolSize: -1, idleTimeout: -1s}
  "bad name": {url: "h:99999"}
masterSlaveRule: {masterDataSourceName: m, slaveDataSourceNames: [m, nope], loadBalanceAlgorithmType: FASTEST}
props: {readYourWrites: always, readYourWritesWindow: -1s}
listen: nocolon
`, []string{
			"listen: want host:port",
			"users[1].name: duplicate user",
			"users[2].name: required",
			"dataSources.m.url: want host:port",
			"dataSources.m.maxPoolSize: must be between 1 and 10000, got -1",
			"dataSources.m.idleTimeout: must be between 1s and",
			"dataSources.bad name: name may hold",
			"dataSources.bad name.url: bad port",
			"dataSources.bad name.username: required",
			"masterSlaveRule.slaveDataSourceNames[0]: \"m\" is the master",
			"masterSlaveRule.slaveDataSourceNames[1]: unknown data source \"nope\"",
			"masterSlaveRule.loadBalanceAlgorithmType: want ROUND_ROBIN",
			"props.readYourWrites: want off, window, session or causal",
			"props.readYourWritesWindow: must be between 1ms and",
		}},
		{"weight on master", `
users: [{name: a, password: x}]
dataSources: {m: {url: "h:1", username: r, weight: 2}}
masterSlaveRule: {masterDataSourceName: m}
`, []string{"dataSources.m.weight: only slaves have a weight"}},
		{"tls half", good + "tls: {certFile: a.pem}\n", []string{"tls: certFile and keyFile are both required"}},
		{"empty password", strings.Replace(good, "users: [{name: app, password: pw}]", "users: [{name: app}, {name: ok, allowEmptyPassword: true}]", 1),
			[]string{"users[0].password: empty: set one (or passwordFile, passwordEnv, passwordHash), or allowEmptyPassword: true"}},
		// Values that would take every instance down (out of memory, an
		// overflowing weight sum, a busy loop) are rejected.
		{"absurd numbers", `
users: [{name: a, password: x}]
dataSources:
  m: {url: "h:1", username: r, maxPoolSize: 2000000000, healthCheckInterval: 1ns, connectTimeout: 1ns}
  s: {url: "h:2", username: r, weight: 9223372036854775807}
masterSlaveRule: {masterDataSourceName: m, slaveDataSourceNames: [s], loadBalanceAlgorithmType: WEIGHT}
props: {statementCacheSize: 1000000000, maxAllowedPacket: 10, maxConnections: -3, waitTimeout: 1ns, handshakeTimeout: 1ns}
`, []string{
			"dataSources.m.maxPoolSize: must be between 1 and 10000",
			"dataSources.m.healthCheckInterval: must be between 10ms and",
			"dataSources.m.connectTimeout: must be between 1ms and",
			"dataSources.s.weight: must be between 1 and 10000",
			"props.statementCacheSize: must be between 1 and",
			"props.maxAllowedPacket: must be between 1024 and",
			"props.maxConnections: must be between 1 and",
			"props.waitTimeout: must be between 1s and",
			"props.handshakeTimeout: must be between 100ms and",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestExamplesAreValid(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%v", err)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

// Defaults and checks are separate steps: Check changes nothing (an unset
// value is out of range until ApplyDefaults fills it), ApplyDefaults
// reports nothing and is idempotent.
func TestDefaultsThenChecks(t *testing.T) {
	raw := func() *Config {
		return &Config{
			Users:           []User{{Name: "u", Password: "x"}},
			DataSources:     map[string]*DataSource{"m": {URL: "mysql://127.0.0.1:3306/app", Username: "r"}},
			MasterSlaveRule: MasterSlaveRule{MasterDataSourceName: "m"},
		}
	}
	c := raw()
	err := c.Check()
	if err == nil || !strings.Contains(err.Error(), "dataSources.m.maxPoolSize: must be between 1 and") {
		t.Fatalf("Check of unset values: %v", err)
	}
	if c.DataSources["m"].MaxPoolSize != 0 || c.DataSources["m"].Addr != "" || c.Listen != "" {
		t.Fatal("Check changed the config")
	}
	c.ApplyDefaults()
	once := *c.DataSources["m"]
	c.ApplyDefaults()
	if *c.DataSources["m"] != once || once.Addr != "127.0.0.1:3306" || once.Database != "app" || once.MaxPoolSize != DefaultMaxPoolSize {
		t.Fatalf("ApplyDefaults: %+v then %+v", once, *c.DataSources["m"])
	}
	if err := c.Check(); err != nil {
		t.Fatalf("Check after ApplyDefaults: %v", err)
	}
}

// Passwords by reference and as native hashes: one way per user or data
// source, the hash in MySQL's format, references read where they are used.
func TestPasswordReferences(t *testing.T) {
	if h := NativeHash("password"); h != "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19" {
		t.Fatalf("NativeHash = %s, want MySQL's PASSWORD('password')", h)
	}
	base := `
dataSources:
  m: {url: 127.0.0.1:1, username: root, %s}
masterSlaveRule: {masterDataSourceName: m}
users: [{name: app, %s}]
`
	for _, c := range []struct{ ds, user, want string }{
		{"password: a, passwordEnv: X", "password: b", "dataSources.m.password: set one of password, passwordFile and passwordEnv, not 2"},
		{"password: a", "password: b, passwordHash: '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'", "users[0].password: set one of password, passwordFile, passwordEnv and passwordHash, not 2"},
		{"password: a", "passwordHash: 'abc'", "users[0].passwordHash: want MySQL's native hash"},
	} {
		_, err := Parse([]byte(fmt.Sprintf(base, c.ds, c.user)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s / %s: %v, want %q", c.ds, c.user, err, c.want)
		}
	}
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SG_TEST_PW", "from-env")
	cfg, err := Parse([]byte(fmt.Sprintf(base, "passwordEnv: SG_TEST_PW", "passwordFile: "+f)))
	if err != nil {
		t.Fatal(err)
	}
	if pw, err := cfg.DataSources["m"].Secret(); err != nil || pw != "from-env" {
		t.Errorf("data source secret: %q %v", pw, err)
	}
	if pw, known := cfg.UserPassword("app"); !known || pw != "from-file" {
		t.Errorf("user secret: %q %v", pw, known)
	}
	os.Remove(f)
	if _, err := cfg.User("app").Secret(); err == nil || !strings.Contains(err.Error(), "passwordFile") {
		t.Errorf("missing password file: %v", err)
	}
	os.Unsetenv("SG_TEST_PW")
	if _, err := cfg.DataSources["m"].Secret(); err == nil || !strings.Contains(err.Error(), "SG_TEST_PW is not set") {
		t.Errorf("unset variable: %v", err)
	}
}
