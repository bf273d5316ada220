package config

import (
	"strings"
	"testing"
)

// Secrets are masked in every YAML style; the rest stays readable.
func TestMaskSecrets(t *testing.T) {
	for _, in := range []string{
		"dataSources:\n  m: {url: x, username: root, password: s3cret}\n",
		"dataSources:\n  m:\n    url: x\n    password: \"s3cret\"\n",
		"users: [{name: app, password: 's3cret'}, {name: b, Password: s3cret}]\n",
		"orchestration: {registry: {digest: \"u:s3cret\"}}\n",
		"a: &p {password: s3cret}\nb: *p\n",
	} {
		out := string(MaskSecrets([]byte(in)))
		if strings.Contains(out, "s3cret") || !strings.Contains(out, Masked) {
			t.Errorf("%q masked as %q", in, out)
		}
	}
	if out := string(MaskSecrets([]byte("users: [{name: app, password: ''}]\n"))); strings.Contains(out, Masked) || !strings.Contains(out, "app") {
		t.Errorf("empty password: %q", out)
	}
	if out := string(MaskSecrets([]byte("password: [unclosed"))); strings.Contains(out, "unclosed") {
		t.Errorf("garbage shown: %q", out)
	}
}
