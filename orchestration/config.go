package orchestration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/registry"
)

// Config is the orchestration section of an instance's file.
type Config struct {
	// Name of the orchestration (the application); the registry root is
	// {registry.namespace}/{name}.
	Name string `yaml:"name"`
	// Overwrite writes the file's data sources, rule, props and users to the
	// registry at start. Otherwise the registry's config wins when present.
	Overwrite bool `yaml:"overwrite"`
	// InstanceIP overrides the address in the instance id (containers).
	InstanceIP string `yaml:"instanceIP"`
	// Registry says how to reach the registry center.
	Registry registry.Config `yaml:"registry"`
}

// DefaultName is the orchestration name when none is given.
const DefaultName = "shardgate"

// File is an instance's config file: the proxy config and, optionally, the
// orchestration section. Without dataSources it holds only the registry
// settings and the instance takes its config from the registry.
type File struct {
	config.Config `yaml:",inline"`
	Orchestration Config `yaml:"orchestration"`
	Admin         Admin  `yaml:"admin"`
}

// Admin configures an instance's admin HTTP endpoints.
type Admin struct {
	// Listen is host:port for /healthz, /readyz, /metrics, /api/v1/state.
	// Default 127.0.0.1:0 (a free port, published in the instance's
	// metadata node); "off" disables it.
	Listen string `yaml:"listen"`
	// Token, when set (or read from TokenFile), is required as
	// "Authorization: Bearer <token>" by every endpoint but /healthz and
	// /readyz, and /metrics unless PublicMetrics.
	Token         string `yaml:"token,omitempty"`
	TokenFile     string `yaml:"tokenFile,omitempty"`
	PublicMetrics bool   `yaml:"publicMetrics,omitempty"`
}

// AdminToken is the admin API's token (Token, else TokenFile's content;
// "" when neither is set).
func (a Admin) AdminToken() (string, error) {
	if a.Token != "" || a.TokenFile == "" {
		return a.Token, nil
	}
	b, err := os.ReadFile(a.TokenFile)
	if err != nil {
		return "", fmt.Errorf("admin.tokenFile: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("admin.tokenFile: %s is empty", a.TokenFile)
	}
	return t, nil
}

// DefaultAdminListen is the admin address when none is configured.
const DefaultAdminListen = "127.0.0.1:0"

// LoadFile reads and decodes (strictly: unknown keys are errors) an
// instance's config file, without validating the proxy part, which may come
// from the registry.
func LoadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := ParseFile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// ParseFile decodes an instance's config file and checks its orchestration
// section.
func ParseFile(b []byte) (*File, error) {
	f := &File{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && !errors.Is(err, errEOF) {
		return nil, fmt.Errorf("config: %w", err)
	}
	o := &f.Orchestration
	if o.Name == "" {
		o.Name = DefaultName
	}
	if strings.ContainsAny(o.Name, "/ \t") {
		return nil, fmt.Errorf("orchestration.name: %q may not contain '/' or white space", o.Name)
	}
	if f.Admin.Listen == "" {
		f.Admin.Listen = DefaultAdminListen
	}
	if f.Admin.Listen != "off" {
		if _, _, err := net.SplitHostPort(f.Admin.Listen); err != nil {
			return nil, fmt.Errorf("admin.listen: want host:port or off, got %q", f.Admin.Listen)
		}
	}
	o.Registry = o.Registry.WithDefaults()
	if err := o.Registry.Validate("orchestration.registry"); err != nil {
		return nil, err
	}
	return f, nil
}

var errEOF = func() error {
	var v any
	return yaml.NewDecoder(strings.NewReader("")).Decode(&v)
}()

// HasShared reports whether the file holds a config of its own (data
// sources), as opposed to only the registry settings.
func (f *File) HasShared() bool { return len(f.DataSources) > 0 }

// SharedNodes are the config nodes in the registry, in the order they are
// written.
var SharedNodes = []string{ConfigDataSources, ConfigRule, ConfigShardingRule, ConfigProps, ConfigAuth}

// EncodeShared renders the registry's config nodes of cfg.
func EncodeShared(cfg *config.Config) (map[string][]byte, error) {
	parts := map[string]any{
		ConfigDataSources:  cfg.DataSources,
		ConfigRule:         cfg.MasterSlaveRule,
		ConfigProps:        cfg.Props,
		ConfigShardingRule: cfg.ShardingRule,
		ConfigAuth:         map[string]any{"users": cfg.Users},
	}
	out := make(map[string][]byte, len(parts))
	for p, v := range parts {
		if r, ok := v.(*config.ShardingRule); ok && r == nil {
			out[p] = nil // no sharding rule: an empty node
			continue
		}
		b, err := yaml.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", p, err)
		}
		out[p] = b
	}
	return out, nil
}

// ReadConfig returns the config nodes present in the registry.
func ReadConfig(ctx context.Context, reg registry.Registry) (map[string]registry.Node, error) {
	nodes := map[string]registry.Node{}
	for _, p := range SharedNodes {
		v, ver, err := reg.Get(ctx, p)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read config node %s: %w", p, err)
		}
		nodes[p] = registry.Node{Path: p, Value: v, Version: ver}
	}
	return nodes, nil
}

// WriteConfig validates cfg and writes its config nodes so that every
// intermediate state an instance may see is consistent: first the data
// sources of both the old and the new config, then the rule, props and
// users, and last the new data sources alone.
func WriteConfig(ctx context.Context, reg registry.Registry, cfg *config.Config) error {
	c := *cfg
	if err := c.Validate(); err != nil {
		return err
	}
	enc, err := EncodeShared(&c)
	if err != nil {
		return err
	}
	old, err := ReadConfig(ctx, reg)
	if err != nil {
		return err
	}
	if n, ok := old[ConfigDataSources]; ok {
		var prev map[string]*config.DataSource
		if yaml.Unmarshal(n.Value, &prev) == nil && len(prev) > 0 {
			union := map[string]*config.DataSource{}
			for k, v := range prev {
				union[k] = v
			}
			for k, v := range c.DataSources {
				union[k] = v
			}
			if b, err := yaml.Marshal(union); err == nil {
				if _, err := reg.Put(ctx, ConfigDataSources, b); err != nil {
					return fmt.Errorf("write config node %s: %w", ConfigDataSources, err)
				}
			}
		}
	}
	for _, p := range append(SharedNodes[1:], SharedNodes[0]) {
		if _, err := reg.Put(ctx, p, enc[p]); err != nil {
			return fmt.Errorf("write config node %s: %w", p, err)
		}
	}
	return nil
}

// DecodeShared is decodeShared for tools: the registry's config nodes over
// an instance's local settings.
func DecodeShared(local *config.Config, nodes map[string][]byte) (*config.Config, error) {
	return decodeShared(local, nodes)
}

// decodeShared builds a full config from the local file's instance-only
// settings (listen, TLS) and the registry's config nodes, then validates it.
// Errors name the node and the key path.
func decodeShared(local *config.Config, nodes map[string][]byte) (*config.Config, error) {
	cfg := &config.Config{Listen: local.Listen, TLS: local.TLS}
	var errs []error
	decode := func(p string, into any) {
		b, ok := nodes[p]
		if !ok || len(bytes.TrimSpace(b)) == 0 {
			return
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(into); err != nil {
			errs = append(errs, fmt.Errorf("registry node %s: %w", strings.TrimPrefix(p, "/"), err))
		}
	}
	var auth struct {
		Users []config.User `yaml:"users"`
	}
	decode(ConfigDataSources, &cfg.DataSources)
	decode(ConfigRule, &cfg.MasterSlaveRule)
	decode(ConfigShardingRule, &cfg.ShardingRule)
	decode(ConfigProps, &cfg.Props)
	decode(ConfigAuth, &auth)
	cfg.Users = auth.Users
	if len(cfg.Users) == 0 {
		cfg.Users = local.Users // users may stay in the instance's file
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config from registry nodes %s: %w", strings.Join(SharedNodes, ", "), err)
	}
	return cfg, nil
}
