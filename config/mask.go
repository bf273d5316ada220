package config

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// Masked stands in for a secret in what is shown.
const Masked = "******"

// secretKeys are the keys whose values are secrets wherever they appear:
// backend, user and registry passwords, ZooKeeper's digest (user:password),
// native password hashes, admin tokens.
var secretKeys = map[string]bool{"password": true, "digest": true, "passwordhash": true, "token": true}

// MaskSecrets returns YAML with every secret value replaced by Masked,
// whatever the style (block, flow, quoted): for showing config in tools,
// the console and logs. Text that is not YAML is not shown at all.
func MaskSecrets(text []byte) []byte {
	var root yaml.Node
	if err := yaml.Unmarshal(text, &root); err != nil {
		return []byte("# (not shown: not YAML, and it may hold secrets)\n")
	}
	if root.Kind == 0 {
		return text // empty
	}
	mask(&root)
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return []byte("# (not shown: cannot be re-encoded)\n")
	}
	enc.Close()
	return []byte(b.String())
}

func mask(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if secretKeys[strings.ToLower(k.Value)] && v.Kind == yaml.ScalarNode && v.Value != "" {
				v.Value, v.Tag, v.Style = Masked, "!!str", 0
				continue
			}
			mask(v)
		}
		return
	}
	for _, c := range n.Content {
		mask(c)
	}
	if n.Alias != nil {
		mask(n.Alias)
	}
}
