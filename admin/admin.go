// Package admin serves an instance's admin HTTP endpoints: /healthz,
// /readyz, /metrics (Prometheus) and /api/v1/state (JSON). Everything is
// read from the routing snapshot and the orchestrator's status at request
// time, so serving it costs the query path nothing.
package admin

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/health"
	"github.com/shardgate/shardgate/orchestration"
)

// Runtime is the routing runtime as admin sees it.
type Runtime interface {
	Snapshot() *engine.Snapshot
}

// Orchestrator is the instance's orchestration as admin sees it.
type Orchestrator interface {
	Status() orchestration.Status
}

// Server holds the admin endpoints of one instance.
type Server struct {
	rt   Runtime
	orch Orchestrator
	meta orchestration.InstanceMeta
	reg  *prometheus.Registry
	mux  *http.ServeMux
	// token guards the endpoints (RequireToken).
	token         string
	publicMetrics bool
}

// New builds the admin endpoints. extra collectors (statement metrics of
// the front end) are registered too.
func New(rt Runtime, orch Orchestrator, meta orchestration.InstanceMeta, extra ...prometheus.Collector) (*Server, error) {
	s := &Server{rt: rt, orch: orch, meta: meta, reg: prometheus.NewRegistry(), mux: http.NewServeMux()}
	cs := append([]prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&stateCollector{s: s},
	}, extra...)
	for _, c := range cs {
		if err := s.reg.Register(c); err != nil {
			return nil, fmt.Errorf("admin: register metrics: %w", err)
		}
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /api/v1/state", s.state)
	return s, nil
}

// Handler is the admin HTTP handler.
func (s *Server) Handler() http.Handler {
	if s.token == "" {
		return s.mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz", r.URL.Path == "/readyz", r.URL.Path == "/metrics" && s.publicMetrics:
		default:
			t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(t), []byte(s.token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="shardgate admin"`)
				http.Error(w, "shardgate admin: this endpoint needs Authorization: Bearer <admin.token>", http.StatusUnauthorized)
				return
			}
		}
		s.mux.ServeHTTP(w, r)
	})
}

// RequireToken makes every endpoint but /healthz and /readyz (and
// /metrics when publicMetrics) need "Authorization: Bearer token" (no
// token: open). Call it before Handler.
func (s *Server) RequireToken(token string, publicMetrics bool) {
	s.token, s.publicMetrics = token, publicMetrics
}

// readyz is 503 while the instance is circuit-broken or has no usable
// master, so that load balancers drain it.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if reason := s.notReady(); reason != "" {
		http.Error(w, reason, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

func (s *Server) notReady() string {
	snap := s.rt.Snapshot()
	switch {
	case snap.State.InstanceDisabled:
		return "circuit-broken by registry node " + snap.State.InstancePath
	case snap.Default.Master.Disabled:
		return "master data source " + snap.Default.Master.Name + " disabled by registry node " + snap.Default.Master.DisabledPath
	case !snap.Default.Master.Health.Reachable():
		return fmt.Sprintf("master data source %s unreachable: %v", snap.Default.Master.Name, snap.Default.Master.Health.LastError())
	case !snap.Default.Master.Health.Healthy():
		return fmt.Sprintf("master data source %s unhealthy: %v", snap.Default.Master.Name, snap.Default.Master.Health.LastError())
	}
	return ""
}

// DataSourceState is one data source in /api/v1/state.
type DataSourceState struct {
	Name     string `json:"name"`
	Role     string `json:"role"` // master, slave or unused
	Disabled bool   `json:"disabled"`
	Node     string `json:"node,omitempty"`
	Healthy  bool   `json:"healthy"`
	Error    string `json:"error,omitempty"`
	// Health is what the health monitor saw.
	Health health.Report `json:"health"`
	Open   int           `json:"openConnections"`
	Idle   int           `json:"idleConnections"`
	Waits  uint64        `json:"poolWaits"`
}

// State is the JSON of /api/v1/state.
type State struct {
	Instance struct {
		orchestration.InstanceMeta
		ID       string `json:"id"`
		Node     string `json:"node"`
		Disabled bool   `json:"disabled"`
		Ready    bool   `json:"ready"`
		Reason   string `json:"notReadyReason,omitempty"`
	} `json:"instance"`
	DataSources []DataSourceState `json:"dataSources"`
	Config      struct {
		Version int64  `json:"version"`
		Error   string `json:"error,omitempty"`
	} `json:"config"`
	Registry struct {
		Connected bool `json:"connected"`
		// UnrecognizedStateNodes hold a value that is neither empty nor
		// DISABLED ("path=value"); they count as enabled.
		UnrecognizedStateNodes []string `json:"unrecognizedStateNodes,omitempty"`
	} `json:"registry"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Snapshot returns the instance's state as /api/v1/state shows it.
func (s *Server) Snapshot() State {
	snap := s.rt.Snapshot()
	st := s.orch.Status()
	var out State
	out.Instance.InstanceMeta = s.meta
	out.Instance.ID = st.InstanceID
	out.Instance.Node = snap.State.InstancePath
	out.Instance.Disabled = snap.State.InstanceDisabled
	out.Instance.Reason = s.notReady()
	out.Instance.Ready = out.Instance.Reason == ""
	for _, name := range slices.Sorted(maps.Keys(snap.ByName)) {
		ds := snap.ByName[name]
		d := DataSourceState{Name: name, Role: role(snap, ds), Disabled: ds.Disabled, Node: ds.DisabledPath}
		d.Healthy = ds.Health.Healthy()
		if err := ds.Health.LastError(); err != nil && !d.Healthy {
			d.Error = err.Error()
		}
		d.Health = ds.Health.Report()
		d.Open, d.Idle, d.Waits = ds.Pool.Stats()
		out.DataSources = append(out.DataSources, d)
	}
	out.Config.Version = int64(st.ConfigVersion)
	out.Config.Error = st.ConfigError
	out.Registry.Connected = st.RegistryConnected
	out.Registry.UnrecognizedStateNodes = st.UnrecognizedStateNodes
	out.UpdatedAt = st.UpdatedAt
	return out
}

func (s *Server) state(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(s.Snapshot())
}

func role(snap *engine.Snapshot, ds *engine.DataSource) string {
	switch {
	case ds.IsMaster():
		return "master"
	case ds.Slave >= 0:
		return "slave"
	}
	return "unused"
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// stateCollector turns the snapshot and status into gauges at scrape time.
type stateCollector struct{ s *Server }

var (
	descCircuit    = prometheus.NewDesc("shardgate_instance_circuit_broken", "1 while the instance is disabled (circuit breaker) by its registry node.", nil, nil)
	descReady      = prometheus.NewDesc("shardgate_instance_ready", "1 while the instance is ready to serve (as /readyz).", nil, nil)
	descDisabled   = prometheus.NewDesc("shardgate_datasource_disabled", "1 while a data source is disabled by its registry node.", []string{"datasource", "role"}, nil)
	descUp         = prometheus.NewDesc("shardgate_datasource_up", "1 while a data source is in the read set (health checks pass; for masters: reachable and writable).", []string{"datasource", "role"}, nil)
	descReachable  = prometheus.NewDesc("shardgate_datasource_reachable", "1 while a data source answers (perhaps degraded: replication stopped or behind).", []string{"datasource", "role"}, nil)
	descLag        = prometheus.NewDesc("shardgate_replication_lag_seconds", "A slave's Seconds_Behind_Master at the last health check (absent while unknown).", []string{"datasource"}, nil)
	descTrans      = prometheus.NewDesc("shardgate_datasource_transitions_total", "Times a data source left or rejoined the read set.", []string{"datasource", "role"}, nil)
	descPool       = prometheus.NewDesc("shardgate_pool_connections", "Backend connections per data source, by state.", []string{"datasource", "state"}, nil)
	descWaits      = prometheus.NewDesc("shardgate_pool_waits_total", "Times a statement found its data source's pool full and waited (since the pool opened).", []string{"datasource"}, nil)
	descRegistry   = prometheus.NewDesc("shardgate_registry_connected", "1 while the registry session is connected.", nil, nil)
	descConfigVer  = prometheus.NewDesc("shardgate_config_version", "Version (registry revision) of the config in force.", nil, nil)
	descConfigErr  = prometheus.NewDesc("shardgate_config_rejected", "1 while the newest config in the registry is rejected (the last good one stays in force).", nil, nil)
	descOddState   = prometheus.NewDesc("shardgate_state_nodes_unrecognized", "State nodes (this instance's, the data sources') whose value is neither empty nor DISABLED; they count as enabled.", nil, nil)
	descConfigDone = prometheus.NewDesc("shardgate_state_updated_timestamp_seconds", "When the instance last applied registry state or config.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCircuit, descReady, descDisabled, descUp, descReachable, descLag, descTrans, descPool, descWaits, descRegistry, descConfigVer, descConfigErr, descOddState, descConfigDone} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Snapshot()
	ch <- prometheus.MustNewConstMetric(descCircuit, prometheus.GaugeValue, b2f(st.Instance.Disabled))
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, b2f(st.Instance.Ready))
	for _, d := range st.DataSources {
		ch <- prometheus.MustNewConstMetric(descDisabled, prometheus.GaugeValue, b2f(d.Disabled), d.Name, d.Role)
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, b2f(d.Healthy), d.Name, d.Role)
		ch <- prometheus.MustNewConstMetric(descReachable, prometheus.GaugeValue, b2f(d.Health.Status != health.Down), d.Name, d.Role)
		ch <- prometheus.MustNewConstMetric(descTrans, prometheus.CounterValue, float64(d.Health.Transitions), d.Name, d.Role)
		if d.Health.LagSeconds != nil {
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, *d.Health.LagSeconds, d.Name)
		}
		ch <- prometheus.MustNewConstMetric(descPool, prometheus.GaugeValue, float64(d.Open-d.Idle), d.Name, "in_use")
		ch <- prometheus.MustNewConstMetric(descPool, prometheus.GaugeValue, float64(d.Idle), d.Name, "idle")
		ch <- prometheus.MustNewConstMetric(descWaits, prometheus.CounterValue, float64(d.Waits), d.Name)
	}
	ch <- prometheus.MustNewConstMetric(descRegistry, prometheus.GaugeValue, b2f(st.Registry.Connected))
	ch <- prometheus.MustNewConstMetric(descConfigVer, prometheus.GaugeValue, float64(st.Config.Version))
	ch <- prometheus.MustNewConstMetric(descConfigErr, prometheus.GaugeValue, b2f(st.Config.Error != ""))
	ch <- prometheus.MustNewConstMetric(descOddState, prometheus.GaugeValue, float64(len(st.Registry.UnrecognizedStateNodes)))
	if !st.UpdatedAt.IsZero() {
		ch <- prometheus.MustNewConstMetric(descConfigDone, prometheus.GaugeValue, float64(st.UpdatedAt.UnixNano())/1e9)
	}
}
