package orchestration

import (
	"bytes"
	"errors"
	"fmt"
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
}

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

// shared is the part of the config that lives in the registry, one node each.
var sharedNodes = []string{ConfigDataSources, ConfigRule, ConfigProps, ConfigAuth}

// encodeShared renders the registry's config nodes of cfg.
func encodeShared(cfg *config.Config) (map[string][]byte, error) {
	parts := map[string]any{
		ConfigDataSources: cfg.DataSources,
		ConfigRule:        cfg.MasterSlaveRule,
		ConfigProps:       cfg.Props,
		ConfigAuth:        map[string]any{"users": cfg.Users},
	}
	out := make(map[string][]byte, len(parts))
	for p, v := range parts {
		b, err := yaml.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", p, err)
		}
		out[p] = b
	}
	return out, nil
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
		return nil, fmt.Errorf("config from registry nodes %s: %w", strings.Join(sharedNodes, ", "), err)
	}
	return cfg, nil
}
