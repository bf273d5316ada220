// Package health is the shape of a data source's health as the engine's
// monitor reports it, the admin API shows it and instances publish it in
// the registry (state/health/{instance}/{data source}). It has no
// dependencies, so that the operator tools read it without linking the
// engine.
package health

import "time"

// Status values.
const (
	// Up: in the read set (a master: reachable and writable).
	Up = "up"
	// Degraded: answers, but replication is stopped, its lag unknown or
	// above props.maxReplicationLag (a master: read_only); takes reads only
	// when neither a healthy slave nor the master can.
	Degraded = "degraded"
	// Down: does not answer.
	Down = "down"
)

// Report is one data source's health.
type Report struct {
	Status      string    `json:"status"`
	Since       time.Time `json:"since,omitzero"`
	Transitions uint64    `json:"transitions"`
	CheckedAt   time.Time `json:"checkedAt,omitzero"`
	Error       string    `json:"error,omitempty"`
	// Replica: the slave replicates (SHOW SLAVE STATUS has a row).
	Replica    bool `json:"replica,omitempty"`
	IORunning  bool `json:"ioRunning,omitempty"`
	SQLRunning bool `json:"sqlRunning,omitempty"`
	// LagSeconds is Seconds_Behind_Master (absent: unknown).
	LagSeconds *float64 `json:"lagSeconds,omitempty"`
	Lagging    bool     `json:"lagging,omitempty"`
	// GTID is a slave's gtid_slave_pos, a master's gtid_binlog_pos.
	GTID     string `json:"gtid,omitempty"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}
