package e2e

import (
	"context"
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGHUP publishes the instance's file to the registry: a valid change is
// applied by every instance; an invalid file is rejected and nothing is
// written.
func TestSighupPublishesConfig(t *testing.T) {
	r := replication(t)
	env := orchenv.Etcd(t, "hup")
	reg := env.Client(t)
	y := instanceYAML(r, env, "hup", freePort(t))
	p := startProxy(t, env, y, reg)
	cfgFile := filepath.Join(filepath.Dir(p.LogPath()), "shardgate.yaml")

	bad := strings.Replace(y, "masterDataSourceName: ds_master", "masterDataSourceName: ds_nowhere", 1)
	if err := os.WriteFile(cfgFile, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(p.Pid(), syscall.SIGHUP)
	time.Sleep(500 * time.Millisecond)
	if v, _, _ := reg.Get(context.Background(), "/config/masterslave/rule"); strings.Contains(string(v), "ds_nowhere") {
		t.Fatalf("an invalid file was published")
	}
	if !strings.Contains(p.LogTail(), "config reload rejected") {
		t.Fatalf("rejection not logged:\n%s", p.LogTail())
	}

	good := strings.Replace(y, "props: {readYourWrites: \"off\"}", "props: {readYourWrites: \"off\", sqlShow: true}", 1)
	if err := os.WriteFile(cfgFile, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(p.Pid(), syscall.SIGHUP)
	orchenv.Eventually(t, "published props", func() error {
		v, _, err := reg.Get(context.Background(), "/config/props")
		if err != nil || !strings.Contains(string(v), "sqlShow: true") {
			return errString("props: " + string(v))
		}
		return nil
	})
}

type errString string

func (e errString) Error() string { return string(e) }
