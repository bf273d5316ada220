package admin

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardgate/shardgate/engine"
)

// Statement kinds in metrics.
const (
	KindRead        = "read"
	KindWrite       = "write"
	KindTransaction = "transaction" // BEGIN, COMMIT, ROLLBACK
	KindSession     = "session"     // SET, USE
)

var kinds = []string{KindRead, KindWrite, KindTransaction, KindSession}

// Kind names a statement class for metrics.
func Kind(cls engine.Class) string {
	switch {
	case cls&(engine.Begin|engine.EndTx) != 0:
		return KindTransaction
	case cls&(engine.SetSession|engine.Use) != 0:
		return KindSession
	case cls&engine.Read != 0:
		return KindRead
	}
	return KindWrite
}

// Statements counts the front end's statements for Prometheus: by data
// source and kind, errors by code, and latency by kind. It implements the
// proxy's Observer; the per-statement path does map loads and atomic adds
// only, no allocation once a data source or code has been seen.
type Statements struct {
	total   *prometheus.CounterVec
	errors  *prometheus.CounterVec
	latency *prometheus.HistogramVec

	byKind   [4]prometheus.Observer
	counters sync.Map // data source name → *[4]prometheus.Counter
	codes    sync.Map // uint16 → prometheus.Counter
}

// NewStatements builds the statement metrics.
func NewStatements() *Statements {
	s := &Statements{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardgate_statements_total", Help: "Statements routed, by the data source that ran them (none: refused before a backend) and kind.",
		}, []string{"datasource", "kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardgate_statement_errors_total", Help: "Statements that ended in a MySQL error, by error code (backend errors and shardgate's own).",
		}, []string{"code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shardgate_statement_duration_seconds", Help: "Time from receiving a statement to the end of its answer, by kind.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"kind"}),
	}
	for i, k := range kinds {
		s.byKind[i] = s.latency.WithLabelValues(k)
	}
	return s
}

func kindIndex(cls engine.Class) int {
	switch Kind(cls) {
	case KindRead:
		return 0
	case KindWrite:
		return 1
	case KindTransaction:
		return 2
	}
	return 3
}

// Statement implements the proxy's Observer.
func (s *Statements) Statement(ds string, cls engine.Class, d time.Duration, code uint16) {
	if ds == "" {
		ds = "none"
	}
	k := kindIndex(cls)
	c, ok := s.counters.Load(ds)
	if !ok {
		var cs [4]prometheus.Counter
		for i, name := range kinds {
			cs[i] = s.total.WithLabelValues(ds, name)
		}
		c, _ = s.counters.LoadOrStore(ds, &cs)
	}
	c.(*[4]prometheus.Counter)[k].Inc()
	s.byKind[k].Observe(d.Seconds())
	if code != 0 {
		e, ok := s.codes.Load(code)
		if !ok {
			e, _ = s.codes.LoadOrStore(code, s.errors.WithLabelValues(strconv.Itoa(int(code))))
		}
		e.(prometheus.Counter).Inc()
	}
}

// Describe implements prometheus.Collector.
func (s *Statements) Describe(ch chan<- *prometheus.Desc) {
	s.total.Describe(ch)
	s.errors.Describe(ch)
	s.latency.Describe(ch)
}

// Collect implements prometheus.Collector.
func (s *Statements) Collect(ch chan<- prometheus.Metric) {
	s.total.Collect(ch)
	s.errors.Collect(ch)
	s.latency.Collect(ch)
}
