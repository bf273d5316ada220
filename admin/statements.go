package admin

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/proxy"
)

// Statement kinds in metrics.
const (
	KindRead        = "read"
	KindWrite       = "write"
	KindTransaction = "transaction" // BEGIN, COMMIT, ROLLBACK
	KindSession     = "session"     // SET, USE
)

var kinds = [numKinds]string{KindRead, KindWrite, KindTransaction, KindSession}

const numKinds = 4

// Kind names a statement class for metrics.
func Kind(cls engine.Class) string { return kinds[kindIndex(cls)] }

func kindIndex(cls engine.Class) int {
	switch {
	case cls&(engine.Begin|engine.EndTx) != 0:
		return 2
	case cls&(engine.SetSession|engine.Use) != 0:
		return 3
	case cls&engine.Read != 0:
		return 0
	}
	return 1
}

// buckets are the latency histogram's upper bounds, in seconds.
var buckets = [...]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}

// bucketNanos are buckets in nanoseconds, for the per-statement search.
var bucketNanos = func() (b [len(buckets)]int64) {
	for i, s := range buckets {
		b[i] = int64(math.Round(s * 1e9))
	}
	return b
}()

// Statements counts the front end's statements for Prometheus: by data
// source and kind, errors by code, and latency by kind. It implements the
// proxy's Observer. Each session counts into a Session of its own, whose
// numbers only that session writes: no counter is shared between sessions,
// so two cores never fight over one on every statement (a shared counter's
// cache line moves between them each time). A scrape adds up the live
// sessions' numbers and those of the sessions that ended.
type Statements struct {
	total, errors, latency *prometheus.Desc

	mu    sync.Mutex
	live  map[*Session]struct{}
	ended totals
}

// totals are numbers added up over sessions.
type totals struct {
	byDS    map[string]*[numKinds]uint64
	byCode  map[uint16]uint64
	latency [numKinds]histogram
}

type histogram struct {
	counts [len(buckets) + 1]uint64 // the last: above every bound
	nanos  uint64
}

// NewStatements builds the statement metrics.
func NewStatements() *Statements {
	return &Statements{
		total: prometheus.NewDesc("shardgate_statements_total",
			"Statements routed, by the data source that ran them (none: refused before a backend) and kind.",
			[]string{"datasource", "kind"}, nil),
		errors: prometheus.NewDesc("shardgate_statement_errors_total",
			"Statements that ended in a MySQL error, by error code (backend errors and shardgate's own).",
			[]string{"code"}, nil),
		latency: prometheus.NewDesc("shardgate_statement_duration_seconds",
			"Time from receiving a statement to the end of its answer, by kind.",
			[]string{"kind"}, nil),
		live:  map[*Session]struct{}{},
		ended: totals{byDS: map[string]*[numKinds]uint64{}, byCode: map[uint16]uint64{}},
	}
}

// Session is one client session's statement counters (proxy's
// SessionObserver): written by that session's goroutine only, read by
// scrapes.
type Session struct {
	s *Statements
	// ds and codes grow by copy (the session stores a new slice; the
	// counters are shared by old and new), so a scrape reads them without
	// a lock.
	ds      atomic.Pointer[[]*dsCount]
	codes   atomic.Pointer[[]*codeCount]
	latency [numKinds]liveHistogram
}

type dsCount struct {
	name string
	n    [numKinds]atomic.Uint64
}

type codeCount struct {
	code uint16
	n    atomic.Uint64
}

type liveHistogram struct {
	counts [len(buckets) + 1]atomic.Uint64
	nanos  atomic.Uint64
}

// Session starts the counters of one client session; End adds them to the
// totals when it ends.
func (s *Statements) Session() proxy.SessionObserver {
	c := &Session{s: s}
	s.mu.Lock()
	s.live[c] = struct{}{}
	s.mu.Unlock()
	return c
}

// Statement counts one statement. It allocates only the first time the
// session meets a data source or an error code.
func (c *Session) Statement(ds string, cls engine.Class, d time.Duration, code uint16) {
	if ds == "" {
		ds = "none"
	}
	k := kindIndex(cls)
	c.dsCount(ds).n[k].Add(1)
	h := &c.latency[k]
	ns, b := d.Nanoseconds(), 0
	for b < len(bucketNanos) && ns > bucketNanos[b] {
		b++
	}
	h.counts[b].Add(1)
	h.nanos.Add(uint64(max(ns, 0)))
	if code != 0 {
		c.codeCount(code).n.Add(1)
	}
}

func (c *Session) dsCount(ds string) *dsCount {
	var list []*dsCount
	if p := c.ds.Load(); p != nil {
		list = *p
		for _, e := range list {
			if e.name == ds {
				return e
			}
		}
	}
	e := &dsCount{name: ds}
	grown := append(append(make([]*dsCount, 0, len(list)+1), list...), e)
	c.ds.Store(&grown)
	return e
}

func (c *Session) codeCount(code uint16) *codeCount {
	var list []*codeCount
	if p := c.codes.Load(); p != nil {
		list = *p
		for _, e := range list {
			if e.code == code {
				return e
			}
		}
	}
	e := &codeCount{code: code}
	grown := append(append(make([]*codeCount, 0, len(list)+1), list...), e)
	c.codes.Store(&grown)
	return e
}

// End adds the session's numbers to the totals of ended sessions; the
// Session is not used after.
func (c *Session) End() {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live[c]; !ok {
		return
	}
	delete(s.live, c)
	s.ended.add(c)
}

// add adds session c's numbers to t.
func (t *totals) add(c *Session) {
	if p := c.ds.Load(); p != nil {
		for _, e := range *p {
			n := t.byDS[e.name]
			if n == nil {
				n = new([numKinds]uint64)
				t.byDS[e.name] = n
			}
			for k := range n {
				n[k] += e.n[k].Load()
			}
		}
	}
	if p := c.codes.Load(); p != nil {
		for _, e := range *p {
			t.byCode[e.code] += e.n.Load()
		}
	}
	for k := range t.latency {
		h, l := &t.latency[k], &c.latency[k]
		for b := range h.counts {
			h.counts[b] += l.counts[b].Load()
		}
		h.nanos += l.nanos.Load()
	}
}

// Describe implements prometheus.Collector.
func (s *Statements) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.total
	ch <- s.errors
	ch <- s.latency
}

// Collect implements prometheus.Collector: the ended sessions' totals plus
// every live session's.
func (s *Statements) Collect(ch chan<- prometheus.Metric) {
	t := totals{byDS: map[string]*[numKinds]uint64{}, byCode: map[uint16]uint64{}}
	s.mu.Lock()
	for name, n := range s.ended.byDS {
		cp := *n
		t.byDS[name] = &cp
	}
	for code, n := range s.ended.byCode {
		t.byCode[code] = n
	}
	t.latency = s.ended.latency
	for c := range s.live {
		t.add(c)
	}
	s.mu.Unlock()
	for name, n := range t.byDS {
		for k, kind := range kinds {
			ch <- prometheus.MustNewConstMetric(s.total, prometheus.CounterValue, float64(n[k]), name, kind)
		}
	}
	for code, n := range t.byCode {
		ch <- prometheus.MustNewConstMetric(s.errors, prometheus.CounterValue, float64(n), strconv.Itoa(int(code)))
	}
	for k, kind := range kinds {
		h := &t.latency[k]
		cum, total := make(map[float64]uint64, len(buckets)), uint64(0)
		for b, bound := range buckets {
			total += h.counts[b]
			cum[bound] = total
		}
		total += h.counts[len(buckets)]
		ch <- prometheus.MustNewConstHistogram(s.latency, total, float64(h.nanos)/1e9, cum, kind)
	}
}
