package config

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load balance algorithms of the master/slave rule.
const (
	RoundRobin = "ROUND_ROBIN"
	Random     = "RANDOM"
	Weight     = "WEIGHT"
)

// Read-your-writes modes: after a write, where the session's reads go.
const (
	RYWOff     = "off"     // reads go to slaves at once (replication lag is visible)
	RYWWindow  = "window"  // reads go to the master for props.readYourWritesWindow
	RYWSession = "session" // reads go to the master for the rest of the session
	// RYWCausal: reads go to a slave that has applied the session's last
	// commit (its GTID), waiting there up to props.causalReadTimeout, else
	// to the master.
	RYWCausal = "causal"

	CausalSession  = "session"
	CausalInstance = "instance"
)

// Defaults.
const (
	DefaultListen             = "127.0.0.1:3307"
	DefaultMaxPoolSize        = 64
	DefaultConnectTimeout     = 3 * time.Second
	DefaultIdleTimeout        = 5 * time.Minute
	DefaultHealthCheck        = 2 * time.Second
	DefaultRYWWindow          = time.Second
	DefaultCausalReadTimeout  = 250 * time.Millisecond
	DefaultServerVersion      = "5.5.5-10.11.99-MariaDB-shardgate"
	DefaultStatementCacheSize = 8192
)

// Config is one proxy's whole configuration.
type Config struct {
	// Listen is the client-facing address, host:port.
	Listen string `yaml:"listen"`
	// Users may log in to the proxy. Backend credentials are per data source.
	Users []User `yaml:"users"`
	// TLS towards clients; off unless certFile and keyFile are set.
	TLS TLS `yaml:"tls"`
	// DataSources by name.
	DataSources map[string]*DataSource `yaml:"dataSources"`
	// MasterSlaveRule says which data source takes writes and which reads.
	MasterSlaveRule MasterSlaveRule `yaml:"masterSlaveRule"`
	// ShardingRule shards tables over data sources or master/slave
	// groups (ShardingSphere's shape; see config/sharding.go).
	ShardingRule *ShardingRule `yaml:"shardingRule,omitempty"`
	// Props are behaviour switches.
	Props Props `yaml:"props"`
}

// User is a client login.
type User struct {
	Name     string `yaml:"name"`
	Password string `yaml:"password"`
	// PasswordFile and PasswordEnv give the password by reference (a file
	// on each instance's host, an environment variable there), so that no
	// config file or registry node holds it.
	PasswordFile string `yaml:"passwordFile,omitempty"`
	PasswordEnv  string `yaml:"passwordEnv,omitempty"`
	// PasswordHash is a hash of the password, enough to check a login:
	// MySQL's PASSWORD() form for mysql_native_password ("*" and 40 hex
	// digits: SHA1(SHA1(password))), or "sha2:" and 64 hex digits,
	// SHA256(SHA256(password)), for caching_sha2_password. Clients
	// offering the other plugin are switched to the hash's.
	// `shardgate hash-password [--sha2]` prints them.
	PasswordHash string `yaml:"passwordHash,omitempty"`
	// MaxConnections bounds this user's client connections per instance
	// (ERR 1226 past it); 0: only props.maxConnections applies.
	MaxConnections int `yaml:"maxConnections,omitempty"`
	// AllowEmptyPassword lets a user without a password log in; without
	// it an empty password is a config error.
	AllowEmptyPassword bool `yaml:"allowEmptyPassword,omitempty"`
}

// TLS holds PEM file paths for the client-facing listener.
type TLS struct {
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// Required rejects clients that do not switch to TLS.
	Required bool `yaml:"required"`
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// DataSource is one MariaDB/MySQL server and its pool.
type DataSource struct {
	// URL is host:port, or mysql://host:port/db or jdbc:mysql://host:port/db
	// (the database in the URL is used when database is empty).
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordFile and PasswordEnv give the password by reference, read
	// on each instance's host when it connects (Secret).
	PasswordFile string `yaml:"passwordFile,omitempty"`
	PasswordEnv  string `yaml:"passwordEnv,omitempty"`
	// Database is the default schema of backend connections.
	Database string `yaml:"database"`
	// TLS towards the server (default disabled).
	TLS *BackendTLS `yaml:"tls,omitempty"`
	// ServerPublicKey is a PEM file holding the server's RSA public key,
	// for caching_sha2_password full authentication without TLS (the
	// password goes encrypted with it). AllowPublicKeyRetrieval: ask the
	// server for its key instead, which a man in the middle can answer.
	ServerPublicKey         string `yaml:"serverPublicKey,omitempty"`
	AllowPublicKeyRetrieval bool   `yaml:"allowPublicKeyRetrieval,omitempty"`
	// MaxPoolSize bounds open backend connections (busy + idle).
	MaxPoolSize int `yaml:"maxPoolSize"`
	// ConnectTimeout bounds dial + handshake; also how long a statement
	// waits for a free connection when the pool is full.
	ConnectTimeout time.Duration `yaml:"connectTimeout"`
	// IdleTimeout closes connections idle longer than this.
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// HealthCheckInterval is how often the health monitor checks the data
	// source (connect, ping; replication on slaves, read_only on masters)
	// and idle connections are swept.
	HealthCheckInterval time.Duration `yaml:"healthCheckInterval"`
	// HealthCheckTimeout bounds one check; default 1s.
	HealthCheckTimeout time.Duration `yaml:"healthCheckTimeout,omitempty"`
	// Weight for loadBalanceAlgorithmType WEIGHT (slaves only). Default 1.
	Weight int `yaml:"weight"`

	// Addr is URL reduced to host:port (set by validation).
	Addr string `yaml:"-"`
}

// MasterSlaveRule is Sharding-JDBC's master/slave rule.
type MasterSlaveRule struct {
	Name                     string   `yaml:"name"`
	MasterDataSourceName     string   `yaml:"masterDataSourceName"`
	SlaveDataSourceNames     []string `yaml:"slaveDataSourceNames"`
	LoadBalanceAlgorithmType string   `yaml:"loadBalanceAlgorithmType"`
}

// Props are behaviour switches.
type Props struct {
	// ReadYourWrites: off | window | session | causal (default session).
	ReadYourWrites string `yaml:"readYourWrites"`
	// CausalReadTimeout bounds how long a causal read waits on a slave
	// for the session's last commit (MASTER_GTID_WAIT) before it goes to
	// the master instead.
	CausalReadTimeout time.Duration `yaml:"causalReadTimeout"`
	// CausalScope: session (a read waits for its own session's commits)
	// or instance (for every commit made through this instance: all the
	// connections of a driver's *sql.DB, all clients of a proxy).
	CausalScope string `yaml:"causalScope"`
	// ReadYourWritesWindow is the window of mode "window".
	ReadYourWritesWindow time.Duration `yaml:"readYourWritesWindow"`
	// SQLShow logs every statement with the data source it went to.
	SQLShow bool `yaml:"sqlShow"`
	// SQLShowDotted is ShardingSphere's spelling, sql.show (folded into
	// SQLShow).
	SQLShowDotted bool `yaml:"sql.show,omitempty"`
	// ServerVersion is announced to clients in the handshake.
	ServerVersion string `yaml:"serverVersion"`
	// StatementCacheSize bounds the classification cache (distinct texts).
	StatementCacheSize int `yaml:"statementCacheSize"`
	// ReadOnlyTransactionsOnSlave lets a transaction begun read-only (the
	// driver's BeginTx with TxOptions.ReadOnly) run on a slave. Off by
	// default: every transaction runs on the master.
	ReadOnlyTransactionsOnSlave bool `yaml:"readOnlyTransactionsOnSlave,omitempty"`
	// MaxAllowedPacket bounds one packet from a client, in bytes (ERR 1153
	// past it); default 64 MiB.
	MaxAllowedPacket int `yaml:"maxAllowedPacket,omitempty"`
	// MaxConnections bounds client connections per instance (ERR 1040 past
	// it); default 4096.
	MaxConnections int `yaml:"maxConnections,omitempty"`
	// WaitTimeout closes a client connection idle that long between
	// commands (MariaDB's wait_timeout); default 8h.
	WaitTimeout time.Duration `yaml:"waitTimeout,omitempty"`
	// HandshakeTimeout bounds the login exchange; default 10s.
	HandshakeTimeout time.Duration `yaml:"handshakeTimeout,omitempty"`
	// IdleTransactionTimeout disconnects a client idle that long inside a
	// transaction (or with autocommit off), rolling it back, so idle
	// transactions cannot hold every master connection. 0: off.
	IdleTransactionTimeout time.Duration `yaml:"idleTransactionTimeout,omitempty"`
	// ShardingMaxRows bounds the rows one merge of sharded results holds
	// (and LIMIT o,c's o+c over several nodes); default 100,000.
	ShardingMaxRows int `yaml:"shardingMaxRows,omitempty"`
	// ShardingCompareLocally: merged text keys compare here
	// (case-insensitively, trailing spaces ignored: approximate) instead of
	// by the nodes' WEIGHT_STRING, for backends without that function
	// (the demo's in-memory servers). Default false: exact.
	ShardingCompareLocally bool `yaml:"shardingCompareLocally,omitempty"`
	// HealthFailures: consecutive failed checks that take a data source
	// out of the read set (default 2); HealthSuccesses: consecutive good
	// ones that bring it back (default 2). A failed connect of a statement
	// takes it out at once.
	HealthFailures  int `yaml:"healthFailures,omitempty"`
	HealthSuccesses int `yaml:"healthSuccesses,omitempty"`
	// HealthFlapLimit: a data source that left the read set this many
	// times within HealthFlapWindow stays out until the window frees one
	// (defaults 5 and 1m): a flapping server is damped, not chased.
	HealthFlapLimit  int           `yaml:"healthFlapLimit,omitempty"`
	HealthFlapWindow time.Duration `yaml:"healthFlapWindow,omitempty"`
	// MaxLoginFailures: an address with this many failed logins within
	// LoginFailureWindow is refused (ERR 1129) until the window passed
	// since its first failure; defaults 10 and 1m.
	MaxLoginFailures   int           `yaml:"maxLoginFailures,omitempty"`
	LoginFailureWindow time.Duration `yaml:"loginFailureWindow,omitempty"`
	// MaxReplicationLag takes a slave out of the read set while its
	// Seconds_Behind_Master is above it, and back only once below half of
	// it; 0 (default): lag is reported, not acted on.
	MaxReplicationLag time.Duration `yaml:"maxReplicationLag,omitempty"`
}

// Load reads and parses a config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML strictly (unknown keys are errors), applies defaults and
// validates.
func Parse(b []byte) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate applies the defaults, then checks every field, returning all
// problems at once, one per line, each prefixed with its key path. It is
// idempotent.
func (c *Config) Validate() error {
	c.ApplyDefaults()
	return c.Check()
}

// ApplyDefaults fills in what an unset (zero) setting means, normalises
// spellings (case, spaces) and derives a data source's address and
// database from its url. It reports nothing: Check does.
func (c *Config) ApplyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	for _, ds := range c.DataSources {
		if ds == nil {
			continue
		}
		if addr, db, err := parseURL(ds.URL); err == nil && ds.URL != "" {
			ds.Addr = addr
			if ds.Database == "" {
				ds.Database = db
			}
		}
	}
	r := &c.MasterSlaveRule
	if r.Name == "" {
		r.Name = "ms"
	}
	r.LoadBalanceAlgorithmType = strings.ToUpper(strings.TrimSpace(r.LoadBalanceAlgorithmType))
	if r.LoadBalanceAlgorithmType == "" {
		r.LoadBalanceAlgorithmType = RoundRobin
	}
	pp := &c.Props
	if pp.SQLShowDotted {
		pp.SQLShow, pp.SQLShowDotted = true, false
	}
	pp.ReadYourWrites = strings.ToLower(strings.TrimSpace(pp.ReadYourWrites))
	if pp.ReadYourWrites == "" {
		pp.ReadYourWrites = RYWSession
	}
	pp.CausalScope = strings.ToLower(strings.TrimSpace(pp.CausalScope))
	if pp.CausalScope == "" {
		pp.CausalScope = CausalSession
	}
	if pp.ServerVersion == "" {
		pp.ServerVersion = DefaultServerVersion
	}
	c.applyShardingDefaults()
	for _, n := range c.ints() {
		if *n.v == 0 {
			*n.v = n.def
		}
	}
	for _, d := range c.durations() {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
}

// Check reports every setting that is missing, unknown, inconsistent or
// out of its range, after ApplyDefaults. It changes no setting; it fills
// only the sharding rule's derived parts it verifies (expanded data nodes,
// compiled expressions).
func (c *Config) Check() error {
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "want host:port, got %q", c.Listen)
	}
	if len(c.Users) == 0 {
		bad("users", "at least one user is required")
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		p := fmt.Sprintf("users[%d]", i)
		if u.Name == "" {
			bad(p+".name", "required")
		} else if seen[u.Name] {
			bad(p+".name", "duplicate user %q", u.Name)
		}
		seen[u.Name] = true
		switch refs := countSet(u.Password, u.PasswordFile, u.PasswordEnv, u.PasswordHash); {
		case refs > 1:
			bad(p+".password", "set one of password, passwordFile, passwordEnv and passwordHash, not %d", refs)
		case refs == 0 && !u.AllowEmptyPassword && u.Name != "":
			bad(p+".password", "empty: set one (or passwordFile, passwordEnv, passwordHash), or allowEmptyPassword: true to let %q log in without a password", u.Name)
		}
		if h := u.PasswordHash; h != "" && !validNativeHash(h) && !validSHA2Hash(h) {
			bad(p+".passwordHash", "want MySQL's native hash ('*' and 40 hex digits) or 'sha2:' and 64 hex digits (shardgate hash-password [--sha2] prints them)")
		}
		if u.MaxConnections < 0 || u.MaxConnections > MaxConnectionsLimit {
			bad(p+".maxConnections", "must be between 0 (no own limit) and %d, got %d", MaxConnectionsLimit, u.MaxConnections)
		}
	}
	if c.TLS.Enabled() && (c.TLS.CertFile == "" || c.TLS.KeyFile == "") {
		bad("tls", "certFile and keyFile are both required")
	}
	if c.TLS.Required && !c.TLS.Enabled() {
		bad("tls.required", "needs certFile and keyFile")
	}

	if len(c.DataSources) == 0 {
		bad("dataSources", "at least one data source is required")
	}
	for _, name := range sortedKeys(c.DataSources) {
		p := "dataSources." + name
		ds := c.DataSources[name]
		if ds == nil {
			bad(p, "empty data source")
			continue
		}
		if !validName(name) {
			bad(p, "name may hold letters, digits, '_', '-' and '.' only")
		}
		if ds.URL == "" {
			bad(p+".url", "required")
		} else if _, _, err := parseURL(ds.URL); err != nil {
			bad(p+".url", "%v", err)
		}
		if ds.Username == "" {
			bad(p+".username", "required")
		}
		if refs := countSet(ds.Password, ds.PasswordFile, ds.PasswordEnv); refs > 1 {
			bad(p+".password", "set one of password, passwordFile and passwordEnv, not %d", refs)
		}
		if ds.TLS != nil {
			ds.TLS.check(bad, p+".tls")
		}
	}

	r := &c.MasterSlaveRule
	rp := "masterSlaveRule"
	if r.MasterDataSourceName == "" {
		if c.ShardingRule == nil {
			bad(rp+".masterDataSourceName", "required")
		}
	} else if _, ok := c.DataSources[r.MasterDataSourceName]; !ok {
		bad(rp+".masterDataSourceName", "unknown data source %q", r.MasterDataSourceName)
	}
	slaves := map[string]bool{}
	for i, s := range r.SlaveDataSourceNames {
		p := fmt.Sprintf("%s.slaveDataSourceNames[%d]", rp, i)
		switch {
		case c.DataSources[s] == nil:
			bad(p, "unknown data source %q", s)
		case s == r.MasterDataSourceName:
			bad(p, "%q is the master; a data source cannot be both", s)
		case slaves[s]:
			bad(p, "duplicate slave %q", s)
		}
		slaves[s] = true
	}
	switch r.LoadBalanceAlgorithmType {
	case RoundRobin, Random, Weight:
	default:
		bad(rp+".loadBalanceAlgorithmType", "want ROUND_ROBIN, RANDOM or WEIGHT, got %q", r.LoadBalanceAlgorithmType)
	}
	for _, name := range sortedKeys(c.DataSources) {
		if ds := c.DataSources[name]; ds != nil && ds.Weight != 1 && !slaves[name] && !c.IsSlave(name) {
			bad("dataSources."+name+".weight", "only slaves have a weight")
		}
	}

	pp := &c.Props
	switch pp.ReadYourWrites {
	case RYWOff, RYWWindow, RYWSession, RYWCausal:
	default:
		bad("props.readYourWrites", "want off, window, session or causal, got %q", pp.ReadYourWrites)
	}
	if pp.CausalScope != CausalSession && pp.CausalScope != CausalInstance {
		bad("props.causalScope", "want session or instance, got %q", pp.CausalScope)
	}
	if t := pp.IdleTransactionTimeout; t != 0 && (t < 100*time.Millisecond || t > 365*24*time.Hour) {
		bad("props.idleTransactionTimeout", "must be 0 (off) or between 100ms and 8760h0m0s, got %v", t)
	}
	c.checkSharding(bad)
	for _, n := range c.ints() {
		if *n.v < n.lo || *n.v > n.hi {
			bad(n.path, "must be between %d and %d, got %d", n.lo, n.hi, *n.v)
		}
	}
	for _, d := range c.durations() {
		if *d.v < d.lo || *d.v > d.hi {
			bad(d.path, "must be between %v and %v, got %v", d.lo, d.hi, *d.v)
		}
	}
	return errors.Join(errs...)
}

// intSetting is a numeric setting: where it is, its default (for an unset
// zero) and its range.
type intSetting struct {
	v           *int
	path        string
	def, lo, hi int
}

type durationSetting struct {
	v           *time.Duration
	path        string
	def, lo, hi time.Duration
}

// ints are the config's integer settings with their defaults and ranges,
// in key-path order: the one place both ApplyDefaults and Check read.
func (c *Config) ints() []intSetting {
	pp := &c.Props
	out := []intSetting{
		{&pp.MaxAllowedPacket, "props.maxAllowedPacket", DefaultMaxAllowedPacket, MinMaxAllowedPacket, MaxMaxAllowedPacket},
		{&pp.MaxConnections, "props.maxConnections", DefaultMaxConnections, 1, MaxConnectionsLimit},
		{&pp.StatementCacheSize, "props.statementCacheSize", DefaultStatementCacheSize, 1, MaxStatementCacheSize},
		{&pp.ShardingMaxRows, "props.shardingMaxRows", DefaultShardingMaxRows, 1, MaxShardingMaxRows},
		{&pp.HealthFailures, "props.healthFailures", DefaultHealthFailures, 1, 100},
		{&pp.HealthSuccesses, "props.healthSuccesses", DefaultHealthSuccesses, 1, 100},
		{&pp.MaxLoginFailures, "props.maxLoginFailures", DefaultMaxLoginFailures, 1, 1000000},
		{&pp.HealthFlapLimit, "props.healthFlapLimit", DefaultHealthFlapLimit, 1, 64},
	}
	for _, name := range sortedKeys(c.DataSources) {
		ds, p := c.DataSources[name], "dataSources."+name
		if ds == nil {
			continue
		}
		out = append(out,
			intSetting{&ds.MaxPoolSize, p + ".maxPoolSize", DefaultMaxPoolSize, 1, MaxPoolSizeLimit},
			intSetting{&ds.Weight, p + ".weight", 1, 1, MaxWeight})
	}
	return out
}

// durations are the config's duration settings, like ints.
func (c *Config) durations() []durationSetting {
	pp := &c.Props
	out := []durationSetting{
		{&pp.ReadYourWritesWindow, "props.readYourWritesWindow", DefaultRYWWindow, time.Millisecond, time.Hour},
		{&pp.CausalReadTimeout, "props.causalReadTimeout", DefaultCausalReadTimeout, time.Millisecond, time.Minute},
		{&pp.WaitTimeout, "props.waitTimeout", DefaultWaitTimeout, time.Second, 365 * 24 * time.Hour},
		{&pp.HandshakeTimeout, "props.handshakeTimeout", DefaultHandshakeTimeout, 100 * time.Millisecond, 10 * time.Minute},
		{&pp.MaxReplicationLag, "props.maxReplicationLag", 0, 0, 7 * 24 * time.Hour},
		{&pp.LoginFailureWindow, "props.loginFailureWindow", DefaultLoginFailureWindow, time.Second, 24 * time.Hour},
		{&pp.HealthFlapWindow, "props.healthFlapWindow", DefaultHealthFlapWindow, time.Second, 24 * time.Hour},
	}
	for _, name := range sortedKeys(c.DataSources) {
		ds, p := c.DataSources[name], "dataSources."+name
		if ds == nil {
			continue
		}
		out = append(out,
			durationSetting{&ds.ConnectTimeout, p + ".connectTimeout", DefaultConnectTimeout, time.Millisecond, 10 * time.Minute},
			durationSetting{&ds.IdleTimeout, p + ".idleTimeout", DefaultIdleTimeout, time.Second, 30 * 24 * time.Hour},
			durationSetting{&ds.HealthCheckInterval, p + ".healthCheckInterval", DefaultHealthCheck, 10 * time.Millisecond, time.Hour},
			durationSetting{&ds.HealthCheckTimeout, p + ".healthCheckTimeout", DefaultHealthCheckTimeout, time.Millisecond, 10 * time.Minute})
	}
	return out
}

// Ranges of numeric settings: a value outside them is rejected, so a
// config that would exhaust memory, overflow arithmetic or spin a loop
// never reaches a running instance.
const (
	MaxPoolSizeLimit        = 10000
	MaxWeight               = 10000
	MaxStatementCacheSize   = 1 << 20
	DefaultShardingMaxRows  = 100000
	MaxShardingMaxRows      = 10000000
	MaxConnectionsLimit     = 100000
	MinMaxAllowedPacket     = 1 << 10
	MaxMaxAllowedPacket     = 1 << 30
	DefaultMaxAllowedPacket = 64 << 20
	DefaultMaxConnections   = 4096
	DefaultWaitTimeout      = 8 * time.Hour
	DefaultHandshakeTimeout = 10 * time.Second
	// Health monitor defaults: a slave leaves the read set within
	// 2 × healthCheckInterval + healthCheckTimeout of failing.
	DefaultHealthCheckTimeout = time.Second
	DefaultHealthFailures     = 2
	DefaultHealthSuccesses    = 2
	DefaultMaxLoginFailures   = 10
	DefaultHealthFlapLimit    = 5
	DefaultHealthFlapWindow   = time.Minute
	DefaultLoginFailureWindow = time.Minute
)

// parseURL accepts host:port, mysql://host:port/db and
// jdbc:mysql://host:port/db?params.
func parseURL(u string) (addr, db string, err error) {
	s := strings.TrimPrefix(strings.TrimPrefix(u, "jdbc:"), "mysql://")
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s, db = s[:i], s[i+1:]
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", "", fmt.Errorf("want host:port or mysql://host:port/db, got %q", u)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", "", fmt.Errorf("bad port %q", port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), db, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// UserPassword returns the password of a user and whether the user exists.
func (c *Config) UserPassword(name string) (string, bool) {
	u := c.User(name)
	if u == nil {
		return "", false
	}
	pw, _ := u.Secret()
	return pw, true
}

// User is the user called name (nil: none).
func (c *Config) User(name string) *User {
	for i := range c.Users {
		if c.Users[i].Name == name {
			return &c.Users[i]
		}
	}
	return nil
}

// Secret is the user's password, read from its reference when it has one.
func (u *User) Secret() (string, error) {
	return secret(u.Password, u.PasswordFile, u.PasswordEnv, "users["+u.Name+"]")
}

// Secret is the data source's password, read from its reference (file,
// environment variable) when it has one.
func (d *DataSource) Secret() (string, error) {
	return secret(d.Password, d.PasswordFile, d.PasswordEnv, "dataSource")
}

// PublicKey is the RSA key of ServerPublicKey (nil when not set).
func (d *DataSource) PublicKey() (*rsa.PublicKey, error) {
	if d.ServerPublicKey == "" {
		return nil, nil
	}
	b, err := os.ReadFile(d.ServerPublicKey)
	if err != nil {
		return nil, fmt.Errorf("serverPublicKey: %w", err)
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("serverPublicKey %s: %w", d.ServerPublicKey, err)
	}
	return k, nil
}

// ParsePublicKey reads an RSA public key in PEM (PKIX, as MySQL writes
// public_key.pem, or PKCS #1).
func ParsePublicKey(b []byte) (*rsa.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PublicKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an RSA key", k)
	}
	return rk, nil
}

func secret(pw, file, env, what string) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s.passwordFile: %w", what, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("%s.passwordEnv: environment variable %s is not set", what, env)
		}
		return v, nil
	}
	return pw, nil
}

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// validNativeHash: "*" and 40 hex digits.
func validNativeHash(h string) bool {
	if len(h) != 41 || h[0] != '*' {
		return false
	}
	for _, c := range h[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// SHA2HashPrefix marks a caching_sha2_password hash in passwordHash.
const SHA2HashPrefix = "sha2:"

func validSHA2Hash(h string) bool {
	x, ok := strings.CutPrefix(h, SHA2HashPrefix)
	if !ok || len(x) != 64 {
		return false
	}
	_, err := hex.DecodeString(x)
	return err == nil
}

// SHA2Hash is passwordHash's caching_sha2_password form of pw:
// "sha2:" and SHA256(SHA256(pw)) in hex (what the fast authentication's
// scramble is checked against).
func SHA2Hash(pw string) string {
	h1 := sha256.Sum256([]byte(pw))
	h2 := sha256.Sum256(h1[:])
	return SHA2HashPrefix + hex.EncodeToString(h2[:])
}

// NativeHash is MySQL's PASSWORD() of pw for mysql_native_password.
func NativeHash(pw string) string {
	h1 := sha1.Sum([]byte(pw))
	h2 := sha1.Sum(h1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(h2[:]))
}

// IsSlave reports whether a data source is one of the rule's slaves (and
// not its master): its connections run read-only sessions.
func (c *Config) IsSlave(name string) bool {
	if name != c.MasterSlaveRule.MasterDataSourceName && slices.Contains(c.MasterSlaveRule.SlaveDataSourceNames, name) {
		return true
	}
	if c.ShardingRule != nil {
		for _, ms := range c.ShardingRule.MasterSlaveRules {
			if ms != nil && slices.Contains(ms.SlaveDataSourceNames, name) {
				return true
			}
		}
	}
	return false
}

// UserMaxConnections is a user's own connection limit (0: none).
func (c *Config) UserMaxConnections(name string) int {
	for _, u := range c.Users {
		if u.Name == name {
			return u.MaxConnections
		}
	}
	return 0
}

// DataSourceNames returns the names in the rule: master first, then slaves.
func (c *Config) DataSourceNames() []string {
	return append([]string{c.MasterSlaveRule.MasterDataSourceName}, c.MasterSlaveRule.SlaveDataSourceNames...)
}
