package sharding

import (
	"fmt"
	"sync"
	"time"
)

// Snowflake issues 63-bit keys the way ShardingSphere's SNOWFLAKE does:
// milliseconds since 2016-11-01 (41 bits), the worker id (10 bits), a
// sequence within the millisecond (12 bits). Keys of one worker increase;
// workers with distinct ids never collide.
type Snowflake struct {
	mu     sync.Mutex
	worker int64
	last   int64 // ms of the last key
	seq    int64
	now    func() time.Time
}

// snowflakeEpoch is ShardingSphere's: keys from both are comparable.
var snowflakeEpoch = time.Date(2016, 11, 1, 0, 0, 0, 0, time.UTC)

// maxClockBack is how far the clock may step back before Next fails
// rather than wait (ShardingSphere tolerates 10 ms the same way).
const maxClockBack = 10 * time.Millisecond

// NewSnowflake returns a generator for worker id w (0..1023).
func NewSnowflake(w int64) (*Snowflake, error) {
	if w < 0 || w > 1023 {
		return nil, fmt.Errorf("sharding: SNOWFLAKE worker id %d out of 0..1023", w)
	}
	return &Snowflake{worker: w, now: time.Now}, nil
}

// Worker is a generator for worker id w that continues after s's last
// key (a config change of the worker id must not go back in time).
func (s *Snowflake) Worker(w int64) (*Snowflake, error) {
	n, err := NewSnowflake(w)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	n.last, n.seq = s.last, s.seq
	s.mu.Unlock()
	n.now = s.now
	return n, nil
}

// WorkerID is the generator's worker id.
func (s *Snowflake) WorkerID() int64 { return s.worker }

// Next returns a new key.
func (s *Snowflake) Next() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.now().Sub(snowflakeEpoch).Milliseconds()
	if ms < s.last {
		back := time.Duration(s.last-ms) * time.Millisecond
		if back > maxClockBack {
			return 0, fmt.Errorf("sharding: the clock stepped back %v; SNOWFLAKE keys would repeat, refusing to issue one", back)
		}
		time.Sleep(back)
		ms = s.last
	}
	if ms == s.last {
		s.seq = (s.seq + 1) & 0xfff
		if s.seq == 0 {
			// 4096 keys this millisecond: wait for the next one.
			for ms <= s.last {
				time.Sleep(100 * time.Microsecond)
				ms = s.now().Sub(snowflakeEpoch).Milliseconds()
			}
		}
	} else {
		s.seq = 0
	}
	s.last = ms
	return ms<<22 | s.worker<<12 | s.seq, nil
}
