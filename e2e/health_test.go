package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/shardgate/shardgate/health"
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
	"github.com/shardgate/shardgate/orchestration"
)

// What the health monitor sees is published per instance beside the
// operator's state nodes (which it never writes), and shown by
// `shardgate ctl health`, /api/v1/state and /metrics: a slave whose SQL
// thread stopped is degraded there, and up again once it runs.
func TestHealthPublished(t *testing.T) {
	r := replication(t)
	env := orchenv.Etcd(t, "app")
	reg := env.Client(t)
	p := startProxy(t, env, instanceYAML(r, env, "app", freePort(t)), reg)
	ctx := context.Background()
	node := orchestration.HealthPath(p.id, "ds_slave_0")
	report := func() (health.Report, error) {
		var rep health.Report
		v, _, err := reg.Get(ctx, node)
		if err != nil {
			return rep, err
		}
		return rep, json.Unmarshal(v, &rep)
	}
	orchenv.Eventually(t, "slave0 published up", func() error {
		rep, err := report()
		if err == nil && (rep.Status != health.Up || !rep.Replica || rep.LagSeconds == nil) {
			err = fmt.Errorf("%+v", rep)
		}
		return err
	})
	s0 := r.Slaves[0]
	s0.Exec(t, "STOP SLAVE SQL_THREAD")
	t.Cleanup(func() { s0.Exec(t, "START SLAVE SQL_THREAD") })
	orchenv.Eventually(t, "slave0 published degraded", func() error {
		rep, err := report()
		if err == nil && (rep.Status != health.Degraded || rep.SQLRunning || !strings.Contains(rep.Error, "replication stopped")) {
			err = fmt.Errorf("%+v", rep)
		}
		return err
	})
	if v, _, err := reg.Get(ctx, "/state/datasources/ds_slave_0"); err != nil || len(v) != 0 {
		t.Fatalf("the operator's node changed: %q %v", v, err)
	}
	out, err := exec.Command(binPath, "ctl", "--registry", "etcd", "--servers", env.Config.ServerLists[0], "--name", "app", "health").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ds_slave_0") || !strings.Contains(string(out), "degraded") {
		t.Fatalf("ctl health: %v\n%s", err, out)
	}
	t.Logf("shardgate ctl health:\n%s", out)
	if code, body := p.adminGet(t, reg, "/api/v1/state"); code != 200 || !strings.Contains(body, `"status": "degraded"`) {
		t.Fatalf("/api/v1/state: %d\n%s", code, body)
	}
	if _, body := p.adminGet(t, reg, "/metrics"); !strings.Contains(body, `shardgate_datasource_up{datasource="ds_slave_0",role="slave"} 0`) ||
		!strings.Contains(body, `shardgate_replication_lag_seconds{datasource="ds_slave_1"}`) {
		t.Fatalf("/metrics lacks the health gauges")
	}
	s0.Exec(t, "START SLAVE SQL_THREAD")
	orchenv.Eventually(t, "slave0 published up again", func() error {
		rep, err := report()
		if err == nil && (rep.Status != health.Up || rep.Transitions != 2) {
			err = fmt.Errorf("%+v", rep)
		}
		return err
	})
}
