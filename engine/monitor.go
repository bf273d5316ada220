package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/shardgate/shardgate/health"
)

// MonitorConn is a connection the health monitor checks a data source
// on. It is opened outside the pool's bound, so a pool whose connections
// are all busy does not starve the monitor, and a check never waits for a
// statement.
type MonitorConn interface {
	// Query runs sql and returns the column names and the rows (a nil
	// value is NULL). It honours ctx's deadline.
	Query(ctx context.Context, sql string) (cols []string, rows [][]*string, err error)
	Close() error
}

// Check is what one health check found.
type Check struct {
	At time.Time
	// Err is why the check failed (nil: the data source may serve).
	Err error
	// Replica: SHOW SLAVE STATUS returned a row (slaves only).
	Replica bool
	// IORunning, SQLRunning are the replication threads' states.
	IORunning, SQLRunning bool
	// Lag is Seconds_Behind_Master; LagKnown false when NULL or no replica.
	Lag      time.Duration
	LagKnown bool
	// GTID is @@gtid_slave_pos on slaves, @@gtid_binlog_pos on masters.
	GTID string
	// ReadOnly is @@read_only (masters).
	ReadOnly bool
}

// Health queries. SHOW statements, not SELECTs, so that the monitor does
// not add to the servers' Com_select, which operators (and tests) read as
// client reads.
const (
	queryMaster      = "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('read_only', 'gtid_binlog_pos')"
	querySlaveStatus = "SHOW SLAVE STATUS"
	querySlaveGTID   = "SHOW GLOBAL VARIABLES LIKE 'gtid_slave_pos'"
)

// check runs the health queries on mc: on a slave its replication
// threads, lag and applied GTID position; on a master read_only and its
// binlog GTID position.
func check(ctx context.Context, mc MonitorConn, slave bool) Check {
	c := Check{At: time.Now()}
	variables := func(sql string) (map[string]string, error) {
		_, rows, err := mc.Query(ctx, sql)
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, r := range rows {
			if len(r) == 2 {
				out[strings.ToLower(val(r[0]))] = val(r[1])
			}
		}
		return out, nil
	}
	if !slave {
		v, err := variables(queryMaster)
		if err != nil {
			c.Err = err
			return c
		}
		c.ReadOnly = strings.EqualFold(v["read_only"], "ON") || v["read_only"] == "1"
		c.GTID = v["gtid_binlog_pos"]
		if c.ReadOnly {
			c.Err = &degraded{errors.New("the master has read_only = ON")}
		}
		return c
	}
	cols, rows, err := mc.Query(ctx, querySlaveStatus)
	if err != nil {
		c.Err = err
		return c
	}
	if len(rows) > 0 {
		c.Replica = true
		get := func(name string) *string {
			for i, col := range cols {
				if strings.EqualFold(col, name) && i < len(rows[0]) {
					return rows[0][i]
				}
			}
			return nil
		}
		c.IORunning = val(get("Slave_IO_Running")) == "Yes"
		c.SQLRunning = val(get("Slave_SQL_Running")) == "Yes"
		if s := get("Seconds_Behind_Master"); s != nil {
			if n, err := strconv.ParseInt(*s, 10, 64); err == nil && n >= 0 {
				c.Lag, c.LagKnown = time.Duration(n)*time.Second, true
			}
		}
		switch {
		case !c.IORunning || !c.SQLRunning:
			why := strings.TrimSpace(val(get("Last_SQL_Error")) + " " + val(get("Last_IO_Error")))
			c.Err = &degraded{fmt.Errorf("replication stopped (Slave_IO_Running=%s, Slave_SQL_Running=%s)%s",
				val(get("Slave_IO_Running")), val(get("Slave_SQL_Running")), prefixed(": ", why))}
		case !c.LagKnown:
			c.Err = &degraded{errors.New("replication lag unknown (Seconds_Behind_Master is NULL)")}
		}
	}
	v, err := variables(querySlaveGTID)
	if err != nil {
		c.Err = err
		return c
	}
	c.GTID = v["gtid_slave_pos"]
	return c
}

// degraded marks a check error of a server that answers but should not
// serve reads while there is better (replication stopped or unknown, a
// read-only master): reads still go there when nothing else can take them.
type degraded struct{ err error }

func (d *degraded) Error() string { return d.err.Error() }
func (d *degraded) Unwrap() error { return d.err }

func val(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// Damping decides from consecutive checks when a data source leaves and
// rejoins the read set.
type Damping struct {
	Failures, Successes int
	// MaxLag: a slave lagging more is out, back only below MaxLag/2 (0: off).
	MaxLag time.Duration
	// FlapLimit: a data source that left the read set FlapLimit times
	// within FlapWindow stays out until the oldest of those is older than
	// the window (0: no limit).
	FlapLimit  int
	FlapWindow time.Duration
}

// monitor checks the data source every healthCheckInterval, on its own
// connection, until the member closes.
func (m *member) monitor() {
	defer close(m.done)
	tick := time.NewTicker(m.cfg.HealthCheckInterval)
	defer tick.Stop()
	var mc MonitorConn
	defer func() {
		if mc != nil {
			mc.Close()
		}
	}()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.HealthCheckTimeout)
		var c Check
		if mc == nil {
			var err error
			if mc, err = m.pool.Monitor(ctx); err != nil {
				mc, c = nil, Check{At: time.Now(), Err: err}
			}
		}
		if mc != nil {
			c = check(ctx, mc, m.readOnly)
			if c.Err != nil && ctx.Err() != nil {
				c.Err = fmt.Errorf("health check: no answer within %v: %w", m.cfg.HealthCheckTimeout, c.Err)
			}
			if c.Err != nil {
				mc.Close() // a fresh connection next time: this one may be stuck
				mc = nil
			}
		}
		cancel()
		m.health.observe(c, m.damping())
	}
}

func (m *member) damping() Damping {
	if d := m.damp.Load(); d != nil {
		return *d
	}
	return Damping{Failures: 2, Successes: 2}
}

// Health levels, from good to bad.
const (
	levelUp       int32 = iota
	levelDegraded       // answers, but replication is stopped or behind
	levelDown           // does not answer
)

func levelOf(c Check) int32 {
	var d *degraded
	switch {
	case c.Err == nil:
		return levelUp
	case errors.As(c.Err, &d):
		return levelDegraded
	}
	return levelDown
}

// observe applies one check: a worse level after Failures checks in a row
// at it, a better one after Successes; lag with hysteresis on top.
func (h *Health) observe(c Check, d Damping) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = c
	if c.Err != nil {
		h.err = c.Err
	}
	if c.Replica || c.Err == nil {
		h.setApplied(c.GTID)
	}
	lvl := levelOf(c)
	switch {
	case lvl > h.checked:
		h.fails++
		h.succ = 0
		if h.fails >= d.Failures {
			h.checked, h.fails = lvl, 0
			slog.Warn("data source out of the read set: health checks failed", "dataSource", h.name, "checks", d.Failures, "err", c.Err)
		}
	case lvl < h.checked:
		h.succ++
		h.fails = 0
		if h.succ >= d.Successes {
			if lvl == levelUp && h.flapping(c.At, d) {
				break // held out: it left the read set too often lately
			}
			h.checked, h.succ = lvl, 0
			if lvl == levelUp {
				slog.Info("data source back: health checks pass", "dataSource", h.name, "checks", d.Successes)
			}
		}
	default:
		h.fails, h.succ = 0, 0
	}
	switch {
	case d.MaxLag <= 0 || !c.LagKnown:
		if c.Err == nil && h.lagging {
			h.lagging = false
			slog.Info("data source back: replication lag no longer measured against a bound", "dataSource", h.name)
		}
	case !h.lagging && c.Lag > d.MaxLag:
		h.lagging = true
		slog.Warn("data source out of the read set: replication lag above props.maxReplicationLag", "dataSource", h.name, "lag", c.Lag, "max", d.MaxLag)
	case h.lagging && c.Lag < d.MaxLag/2:
		h.lagging = false
		slog.Info("data source back: replication lag below half of props.maxReplicationLag", "dataSource", h.name, "lag", c.Lag)
	}
	h.publishLocked()
}

// flapping reports whether the data source left the read set
// d.FlapLimit times within d.FlapWindow before now (logged once per hold).
func (h *Health) flapping(now time.Time, d Damping) bool {
	if d.FlapLimit <= 0 {
		return false
	}
	n := 0
	for _, t := range h.outs {
		if now.Sub(t) < d.FlapWindow {
			n++
		}
	}
	if n < d.FlapLimit {
		h.held = false
		return false
	}
	h.err = fmt.Errorf("held out of the read set: it left it %d times within %v (props.healthFlapLimit)", n, d.FlapWindow)
	if !h.held {
		h.held = true
		slog.Warn("data source flapping: held out of the read set", "dataSource", h.name, "leftTimes", n, "window", d.FlapWindow)
	}
	return true
}

// publishLocked sets the routing level from the state and counts
// transitions (and remembers when it left the read set, for flapping).
func (h *Health) publishLocked() {
	lvl := h.checked
	if h.lagging && lvl < levelDegraded {
		lvl = levelDegraded
	}
	if old := h.level.Swap(lvl); (old == levelUp) != (lvl == levelUp) {
		h.transitions++
		h.since = time.Now()
		if lvl != levelUp {
			h.outs = append(h.outs, h.since)
			if len(h.outs) > 64 {
				h.outs = h.outs[len(h.outs)-64:]
			}
		}
	}
}

// HealthStatus is what the monitor knows of a data source.
type HealthStatus struct {
	// Up: in the read set. Reachable: it answers (a slave that is not Up
	// but Reachable still takes reads when neither a healthy slave nor the
	// master can).
	Up, Reachable bool
	Since         time.Time // of the last change
	LastError     string
	Transitions   uint64
	// Lagging: out of the read set for replication lag.
	Lagging bool
	Last    Check
}

// Status is the data source's health as last observed.
func (h *Health) Status() HealthStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := HealthStatus{Up: h.level.Load() == levelUp, Reachable: h.level.Load() < levelDown, Since: h.since,
		Transitions: h.transitions, Lagging: h.lagging, Last: h.last}
	if h.err != nil {
		st.LastError = h.err.Error()
	}
	return st
}

// Report is the data source's health as the admin API and the registry
// show it.
func (h *Health) Report() health.Report {
	st := h.Status()
	out := health.Report{Since: st.Since, Transitions: st.Transitions, CheckedAt: st.Last.At, Replica: st.Last.Replica,
		IORunning: st.Last.IORunning, SQLRunning: st.Last.SQLRunning, Lagging: st.Lagging, GTID: st.Last.GTID, ReadOnly: st.Last.ReadOnly}
	switch {
	case st.Up:
		out.Status = health.Up
	case st.Reachable:
		out.Status, out.Error = health.Degraded, st.LastError
	default:
		out.Status, out.Error = health.Down, st.LastError
	}
	if st.Last.LagKnown {
		lag := st.Last.Lag.Seconds()
		out.LagSeconds = &lag
	}
	return out
}
