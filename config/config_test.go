package config

import (
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
			"dataSources.m.maxPoolSize: must be positive",
			"dataSources.m.idleTimeout: must be positive",
			"dataSources.bad name: name may hold",
			"dataSources.bad name.url: bad port",
			"dataSources.bad name.username: required",
			"masterSlaveRule.slaveDataSourceNames[0]: \"m\" is the master",
			"masterSlaveRule.slaveDataSourceNames[1]: unknown data source \"nope\"",
			"masterSlaveRule.loadBalanceAlgorithmType: want ROUND_ROBIN",
			"props.readYourWrites: want off, window or session",
			"props.readYourWritesWindow: must be positive",
		}},
		{"weight on master", `
users: [{name: a}]
dataSources: {m: {url: "h:1", username: r, weight: 2}}
masterSlaveRule: {masterDataSourceName: m}
`, []string{"dataSources.m.weight: only slaves have a weight"}},
		{"tls half", good + "tls: {certFile: a.pem}\n", []string{"tls: certFile and keyFile are both required"}},
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
