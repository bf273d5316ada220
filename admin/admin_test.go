package admin_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shardgate/shardgate/admin"
	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/engine/enginetest"
	"github.com/shardgate/shardgate/orchestration"
)

type status struct{ st orchestration.Status }

func (s *status) Status() orchestration.Status { return s.st }

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestEndpoints(t *testing.T) {
	cfg, err := config.Parse([]byte(`
users: [{name: app, password: x}]
dataSources:
  m: {url: 127.0.0.1:1, username: root}
  s0: {url: 127.0.0.1:2, username: root}
masterSlaveRule: {masterDataSourceName: m, slaveDataSourceNames: [s0]}
`))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := engine.NewRuntime(cfg, enginetest.Open)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	st := &status{orchestration.Status{InstanceID: "10.0.0.5@-@42", ConfigVersion: 7, RegistryConnected: true}}
	s, err := admin.New(rt, st, orchestration.InstanceMeta{Address: "127.0.0.1:3307", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	if code, _ := get(t, h, "/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, body := get(t, h, "/readyz"); code != 200 {
		t.Fatalf("/readyz %d %s", code, body)
	}
	_, m := get(t, h, "/metrics")
	for _, want := range []string{
		"shardgate_instance_circuit_broken 0", "shardgate_instance_ready 1", "shardgate_config_version 7",
		`shardgate_datasource_disabled{datasource="s0",role="slave"} 0`, "shardgate_registry_connected 1",
		`shardgate_pool_connections{datasource="m",state="idle"} 0`, `shardgate_pool_waits_total{datasource="m"} 0`, "go_goroutines",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// The figures move with the registry state.
	rt.SetState(config.State{InstanceDisabled: true, InstancePath: "/app/state/instances/10.0.0.5@-@42",
		DisabledDataSources: map[string]string{"s0": "/app/state/datasources/s0"}})
	st.st.ConfigError = "masterSlaveRule.masterDataSourceName: unknown data source"
	st.st.UnrecognizedStateNodes = []string{"/app/state/datasources/s1=DISABLE"}
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "/app/state/instances/10.0.0.5@-@42") {
		t.Fatalf("/readyz while circuit-broken: %d %s", code, body)
	}
	_, m = get(t, h, "/metrics")
	for _, want := range []string{"shardgate_instance_circuit_broken 1", "shardgate_instance_ready 0",
		`shardgate_datasource_disabled{datasource="s0",role="slave"} 1`, "shardgate_config_rejected 1",
		"shardgate_state_nodes_unrecognized 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q after the change", want)
		}
	}
	_, js := get(t, h, "/api/v1/state")
	var state admin.State
	if err := json.Unmarshal([]byte(js), &state); err != nil {
		t.Fatal(err)
	}
	if !state.Instance.Disabled || state.Instance.Ready || state.Config.Error == "" || state.Instance.Address != "127.0.0.1:3307" ||
		len(state.DataSources) != 2 || !state.DataSources[1].Disabled || state.DataSources[1].Role != "slave" {
		t.Fatalf("/api/v1/state: %s", js)
	}

	// Master disabled: not ready either.
	rt.SetState(config.State{DisabledDataSources: map[string]string{"m": "/app/state/datasources/m"}})
	if code, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "master data source m disabled") {
		t.Fatalf("/readyz with master disabled: %d %s", code, body)
	}
}

func TestStatementsMetrics(t *testing.T) {
	s := admin.NewStatements()
	c := s.Session()
	c.Statement("ds_slave_0", engine.Read, 300*time.Microsecond, 0)
	c.Statement("ds_master", engine.Write, time.Millisecond, 1062)
	c.Statement("", engine.Write, 0, 1105)
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	scrape := func() string {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	want := []string{
		`shardgate_statements_total{datasource="ds_slave_0",kind="read"} 1`,
		`shardgate_statements_total{datasource="ds_slave_0",kind="write"} 0`,
		`shardgate_statements_total{datasource="ds_master",kind="write"} 1`,
		`shardgate_statements_total{datasource="none",kind="write"} 1`,
		`shardgate_statement_errors_total{code="1062"} 1`,
		`shardgate_statement_errors_total{code="1105"} 1`,
		`shardgate_statement_duration_seconds_count{kind="read"} 1`,
		`shardgate_statement_duration_seconds_bucket{kind="read",le="0.0001"} 0`,
		`shardgate_statement_duration_seconds_bucket{kind="read",le="0.0005"} 1`,
		`shardgate_statement_duration_seconds_bucket{kind="write",le="0.0005"} 1`,
		`shardgate_statement_duration_seconds_bucket{kind="write",le="0.001"} 2`,
		`shardgate_statement_duration_seconds_sum{kind="read"} 0.0003`,
		`shardgate_statement_duration_seconds_count{kind="session"} 0`,
	}
	check := func(when string) {
		m := scrape()
		for _, w := range want {
			if !strings.Contains(m, w) {
				t.Errorf("%s: metrics lack %q", when, w)
			}
		}
	}
	check("live session")
	// A session's numbers outlive it; another's add to them.
	c.End()
	c.End() // once only
	check("ended session")
	d := s.Session()
	d.Statement("ds_slave_0", engine.Read, time.Second, 0)
	want[0] = `shardgate_statements_total{datasource="ds_slave_0",kind="read"} 2`
	want[6] = `shardgate_statement_duration_seconds_count{kind="read"} 2`
	want[11] = `shardgate_statement_duration_seconds_sum{kind="read"} 1.0003`
	check("second session")
	if n := testing.AllocsPerRun(1000, func() { d.Statement("ds_slave_0", engine.Read, time.Millisecond, 0) }); n != 0 {
		t.Errorf("Statement allocates %.0f times per call", n)
	}
}

// Counters stay exact while sessions count concurrently, meet data sources
// in different orders and end while others scrape.
func TestStatementsSessions(t *testing.T) {
	s := admin.NewStatements()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	const sources, each, sessions = 20, 50, 8
	var wg sync.WaitGroup
	for g := range sessions {
		wg.Go(func() {
			c := s.Session()
			for i := range sources * each {
				c.Statement(fmt.Sprintf("ds_%d", (i+g)%sources), engine.Read, time.Microsecond, 0)
			}
			if g%2 == 0 {
				c.End()
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, mf := range mfs {
		if mf.GetName() != "shardgate_statements_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[1].GetValue() != "read" {
				continue
			}
			seen++
			if got := m.GetCounter().GetValue(); got != sessions*each {
				t.Errorf("%v: %v statements, want %d", m.GetLabel(), got, sessions*each)
			}
		}
	}
	if seen != sources {
		t.Errorf("%d data sources counted, want %d", seen, sources)
	}
}

// BenchmarkStatement is the metrics' cost per statement, two sessions
// counting at once on the few data sources of a read/write split.
//
//	go test ./admin -run '^$' -bench Statement -benchtime 2s
func BenchmarkStatement(b *testing.B) {
	s := admin.NewStatements()
	names := []string{"ds_master", "ds_slave_0", "ds_slave_1"}
	b.RunParallel(func(pb *testing.PB) {
		c := s.Session()
		defer c.End()
		i := 0
		for pb.Next() {
			c.Statement(names[i%3], engine.Read, 300*time.Microsecond, 0)
			i++
		}
	})
}

// With admin.token every endpoint but /healthz and /readyz (and /metrics
// when public) needs the bearer token.
func TestToken(t *testing.T) {
	cfg, err := config.Parse([]byte(`
users: [{name: app, password: x}]
dataSources:
  m: {url: 127.0.0.1:1, username: root}
masterSlaveRule: {masterDataSourceName: m}
`))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := engine.NewRuntime(cfg, enginetest.Open)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	for _, public := range []bool{false, true} {
		s, err := admin.New(rt, &status{}, orchestration.InstanceMeta{Address: "127.0.0.1:3307"})
		if err != nil {
			t.Fatal(err)
		}
		s.RequireToken("adm-token", public)
		h := s.Handler()
		with := func(path, auth string) int {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			h.ServeHTTP(rec, req)
			return rec.Code
		}
		for path, want := range map[string]int{"/healthz": 200, "/api/v1/state": 401, "/metrics": map[bool]int{false: 401, true: 200}[public]} {
			if got := with(path, ""); got != want {
				t.Errorf("public metrics %v: %s without the token: %d, want %d", public, path, got, want)
			}
		}
		if got := with("/api/v1/state", "Bearer wrong"); got != 401 {
			t.Errorf("wrong token: %d", got)
		}
		if got := with("/api/v1/state", "Bearer adm-token"); got != 200 {
			t.Errorf("right token: %d", got)
		}
	}
}
