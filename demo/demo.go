// Package demo runs the whole product in one process with nothing
// installed: an embedded etcd registry, five in-memory MySQL-compatible
// backends (go-mysql-server) in two master/slave groups with a table
// sharded over both, a shardgate proxy instance and the web console. Only cmd/shardgate imports it, so its
// heavy dependencies stay out of the proxy's own packages.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/sirupsen/logrus"
	"gopkg.in/yaml.v3"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/console"
	"github.com/shardgate/shardgate/instance"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
)

// Options choose the demo's addresses; an address that is taken is
// replaced by a free port.
type Options struct {
	ProxyAddr    string // default 127.0.0.1:3307
	RegistryAddr string // embedded etcd client address, default 127.0.0.1:2379
	ConsoleAddr  string // default 127.0.0.1:8080
	AdminAddr    string // default 127.0.0.1:9307
	BackendAddrs []string
	DataDir      string // default a temp dir, removed at the end
	Binary       string // how to call shardgate in the printed commands
}

// Demo is a running demo.
type Demo struct {
	Backends   []*Backend
	Instance   *instance.Instance
	ConsoleURL string
	// ConsoleToken logs in to the console (ConsoleURL?token=… does).
	ConsoleToken string
	RegistryURL  string
	ProxyAddr    string
	Root         string
	console      *http.Server
	consoleH     *console.Console
	dataDir      string
	removeDir    bool
}

// User and Password log in to the demo proxy.
const (
	User     = "demo"
	Password = "demo"
	Name     = "demo"
)

// Start brings the demo up.
func Start(ctx context.Context, o Options) (*Demo, error) {
	logrus.SetLevel(logrus.ErrorLevel) // go-mysql-server logs every connection, and warns of its defaults
	for len(o.BackendAddrs) < 3 {
		o.BackendAddrs = append(o.BackendAddrs, "127.0.0.1:0")
	}
	d := &Demo{dataDir: o.DataDir, Root: "/" + Name}
	if d.dataDir == "" {
		dir, err := os.MkdirTemp("", "shardgate-demo-")
		if err != nil {
			return nil, err
		}
		d.dataDir, d.removeDir = dir, true
	}
	fail := func(err error) (*Demo, error) {
		d.Close()
		return nil, err
	}
	var err error
	if d.Backends, err = startBackends([]string{"ds_master", "ds_slave_0", "ds_slave_1"}, o.BackendAddrs, 1); err != nil {
		return fail(err)
	}
	// A second master/slave group: t_order is sharded over both.
	more, err := startBackends([]string{"ds1_master", "ds1_slave_0"}, []string{"127.0.0.1:0", "127.0.0.1:0"}, 4)
	if err != nil {
		return fail(err)
	}
	d.Backends = append(d.Backends, more...)
	// The other ports are picked once the backends listen, so that none
	// is picked twice.
	o.ProxyAddr = free(o.ProxyAddr, "127.0.0.1:3307")
	o.RegistryAddr = free(o.RegistryAddr, "127.0.0.1:2379")
	o.ConsoleAddr = free(o.ConsoleAddr, "127.0.0.1:8080")
	o.AdminAddr = free(o.AdminAddr, "127.0.0.1:9307")
	d.ProxyAddr = o.ProxyAddr
	var rule config.ShardingRule
	dec := yaml.NewDecoder(strings.NewReader(shardingRule))
	dec.KnownFields(true)
	if err := dec.Decode(&rule); err != nil {
		return fail(fmt.Errorf("demo: sharding rule: %w", err))
	}
	ds := func(b *Backend) *config.DataSource {
		return &config.DataSource{URL: b.Addr, Username: "root", Database: "demo", HealthCheckInterval: 500 * time.Millisecond}
	}
	peer := free("", "127.0.0.1:0")
	f := &orchestration.File{
		Config: config.Config{
			Listen: o.ProxyAddr,
			Users:  []config.User{{Name: User, Password: Password}},
			DataSources: map[string]*config.DataSource{
				"ds_master": ds(d.Backends[0]), "ds_slave_0": ds(d.Backends[1]), "ds_slave_1": ds(d.Backends[2]),
				"ds1_master": ds(d.Backends[3]), "ds1_slave_0": ds(d.Backends[4]),
			},
			ShardingRule: &rule,
			// The in-memory servers have no WEIGHT_STRING: merged text
			// compares here.
			Props: config.Props{ReadYourWrites: config.RYWOff, ShardingCompareLocally: true},
		},
		Orchestration: orchestration.Config{
			Name:       Name,
			Overwrite:  true,
			InstanceIP: "127.0.0.1",
			Registry: registry.Config{Type: registry.TypeEmbedded, Embedded: registry.EmbeddedConfig{
				DataDir: d.dataDir + "/registry", ClientURL: "http://" + o.RegistryAddr, PeerURL: "http://" + peer,
			}},
		},
		Admin: orchestration.Admin{Listen: o.AdminAddr},
	}
	d.RegistryURL = "http://" + o.RegistryAddr
	if d.Instance, err = instance.Start(ctx, f); err != nil {
		return fail(err)
	}
	if err := seed(ctx, d.Instance.Addr().String()); err != nil {
		return fail(err)
	}
	cl, err := net.Listen("tcp", o.ConsoleAddr)
	if err != nil {
		return fail(fmt.Errorf("console: %w", err))
	}
	c, err := console.New(d.Instance.Registry, d.Root, console.Options{})
	if err != nil {
		cl.Close()
		return fail(err)
	}
	d.consoleH = c
	d.console = &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second}
	go d.console.Serve(cl)
	d.ConsoleURL = "http://" + cl.Addr().String() + "/"
	d.ConsoleToken = c.Token()
	return d, nil
}

// Close stops everything the demo started.
func (d *Demo) Close() error {
	var errs []error
	if d.console != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		d.console.Shutdown(ctx)
		cancel()
	}
	if d.consoleH != nil {
		d.consoleH.Close()
	}
	if d.Instance != nil {
		errs = append(errs, d.Instance.Close())
	}
	closeAll(d.Backends)
	if d.removeDir {
		os.RemoveAll(d.dataDir)
	}
	return errors.Join(errs...)
}

// free returns addr (or def) if it can be listened on, else a free port on
// the same host.
func free(addr, def string) string {
	if addr == "" {
		addr = def
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		a := l.Addr().String()
		l.Close()
		return a
	}
	host, _, _ := net.SplitHostPort(addr)
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return addr
	}
	defer l.Close()
	return l.Addr().String()
}

// shardingRule shards t_order over the demo's two master/slave groups
// (ShardingSphere's YAML); other tables live on ms_0.
const shardingRule = `
tables:
  t_order:
    actualDataNodes: ms_${0..1}.t_order_${0..1}
    databaseStrategy: {inline: {shardingColumn: user_id, algorithmExpression: 'ms_${user_id % 2}'}}
    tableStrategy: {inline: {shardingColumn: order_id, algorithmExpression: 't_order_${order_id % 2}'}}
    keyGenerator: {type: SNOWFLAKE, column: order_id}
defaultDataSourceName: ms_0
masterSlaveRules:
  ms_0: {masterDataSourceName: ds_master, slaveDataSourceNames: [ds_slave_0, ds_slave_1]}
  ms_1: {masterDataSourceName: ds1_master, slaveDataSourceNames: [ds1_slave_0]}
`

var howTo = template.Must(template.New("howto").Parse(`
shardgate demo is running: two master/slave groups (in-memory, go-mysql-server):
ms_0 (master 1, slaves 2 and 3) and ms_1 (master 4, slave 5), an embedded etcd
registry, a shardgate proxy instance and the web console.

Connect through the proxy (any MySQL client; the password is {{.Password}}):
    mariadb -h{{.Host}} -P{{.Port}} -u{{.User}} -p{{.Password}} demo
    mysql> SELECT @@server_id;            -- 2 or 3: a slave of ms_0 served the read
    mysql> INSERT INTO items (name) VALUES ('x');   -- goes to ms_0's master (1)
    mysql> SELECT * FROM items;           -- the write is visible on the slaves

t_order is sharded: user_id picks the group, order_id (a SNOWFLAKE key) the table:
    mysql> INSERT INTO t_order (user_id, amount) VALUES (1, 9.50), (2, 3.25);
    mysql> SELECT * FROM t_order ORDER BY order_id;   -- merged from both groups
    mysql> PREVIEW SELECT * FROM t_order WHERE user_id = 1;   -- where it would run

Web console (live state, enable/disable buttons; the token in the URL logs you in):
    {{.Console}}?token={{.ConsoleToken}}

Take a slave out of read rotation, and put it back:
    {{.Bin}} ctl {{.Ctl}} disable datasource ds_slave_0
    ETCDCTL_API=3 etcdctl --endpoints={{.Registry}} --user "$(cat {{.Credential}})" put /{{.Name}}/state/datasources/ds_slave_0 DISABLED
    ETCDCTL_API=3 etcdctl --endpoints={{.Registry}} --user "$(cat {{.Credential}})" put /{{.Name}}/state/datasources/ds_slave_0 ""

Circuit-break this instance (every statement then fails with a clear error):
    {{.Bin}} ctl {{.Ctl}} disable instance {{.Instance}}
    ETCDCTL_API=3 etcdctl --endpoints={{.Registry}} --user "$(cat {{.Credential}})" put /{{.Name}}/state/instances/{{.Instance}} DISABLED

List what runs:
    {{.Bin}} ctl {{.Ctl}} instances
    curl http://{{.Admin}}/api/v1/state     (also /metrics, /readyz)

The registry has authentication on: its root credential was written to
{{.Credential}} (mode 0600), which ctl and etcdctl read above.

Ctrl-C stops everything.
`))

// PrintHowTo writes how to use the running demo.
func (d *Demo) PrintHowTo(w io.Writer, bin string) error {
	host, port, _ := net.SplitHostPort(d.Instance.Addr().String())
	reg := strings.TrimPrefix(d.RegistryURL, "http://")
	cred := d.CredentialFile()
	return howTo.Execute(w, map[string]string{
		"Host": host, "Port": port, "User": User, "Password": Password,
		"Console": d.ConsoleURL, "ConsoleToken": d.ConsoleToken, "Registry": reg, "Credential": cred,
		"Ctl":  "--registry etcd --servers " + reg + " --credential " + cred + " --name " + Name,
		"Name": Name, "Instance": d.Instance.Orchestrator.ID(), "Admin": d.Instance.Meta.Admin, "Bin": bin,
	})
}

// CredentialFile is the embedded registry's root credential ("root:password").
func (d *Demo) CredentialFile() string {
	return registry.EmbeddedConfig{DataDir: d.dataDir + "/registry"}.CredentialPath()
}
