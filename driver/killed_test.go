package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
)

// TestKilledProcess: an application process that embeds the driver and
// dies with kill -9 loses its instance node within the registry's TTL
// (2s here), as a killed proxy does.
func TestKilledProcess(t *testing.T) {
	r := replication(t)
	env := orchenv.Etcd(t, "killed")
	reg := env.Client(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperInstance$")
	cmd.Env = append(os.Environ(), "SHARDGATE_HELPER_CONFIG="+instanceFile(t, r, env.YAML, "killed", ""))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	node := orchestration.InstancePath(orchestration.InstanceID("127.0.0.1", cmd.Process.Pid))
	orchenv.Eventually(t, "helper registered", func() error {
		_, _, err := reg.Get(context.Background(), node)
		return err
	})
	cmd.Process.Kill()
	cmd.Wait()
	killed := time.Now()
	orchenv.Eventually(t, "instance node gone after kill -9", func() error {
		if _, _, err := reg.Get(context.Background(), node); !errors.Is(err, registry.ErrNotFound) {
			return errors.New("still there")
		}
		return nil
	})
	t.Logf("instance node gone %v after kill -9", time.Since(killed).Round(10*time.Millisecond))
}

// TestHelperInstance is the application process of TestKilledProcess.
func TestHelperInstance(t *testing.T) {
	path := os.Getenv("SHARDGATE_HELPER_CONFIG")
	if path == "" {
		t.Skip("runs as TestKilledProcess's child process")
	}
	db, err := sql.Open("shardgate", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	time.Sleep(time.Minute)
}
