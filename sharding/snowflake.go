package sharding

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrNoWorker is matched by the error of a key asked for while the
// generator holds no worker id (not claimed yet, or the claim was lost).
var ErrNoWorker = errors.New("sharding: no SNOWFLAKE worker id")

// Snowflake issues 63-bit keys the way ShardingSphere's SNOWFLAKE does:
// milliseconds since 2016-11-01 (41 bits), the worker id (10 bits), a
// sequence within the millisecond (12 bits). Keys of one generator
// increase; generators with distinct worker ids never collide.
//
// The worker id is granted from outside (orchestration claims one in the
// registry) together with a floor, the last millisecond its previous
// holder may have used, and a reservation end: keys are issued only for
// milliseconds after the floor and up to the end, so neither a restarted
// holder with a slow clock nor a holder cut off from the registry can
// repeat another's keys.
type Snowflake struct {
	mu     sync.Mutex
	worker int64 // -1: none granted
	why    error // why there is none
	floor  int64 // ms (since the epoch below) the previous holder may have used
	until  int64 // ms: the reservation's end
	last   int64 // ms of the last key
	seq    int64
	full   bool  // no key left in ms last
	vib    int64 // where the next millisecond's sequence starts
	now    func() time.Time
	wanted chan struct{} // closed at the first key asked for
	asked  bool
	// grantWait bounds how long a key waits for a worker id.
	grantWait time.Duration
}

// snowflakeEpoch is ShardingSphere's: keys from both are comparable.
var snowflakeEpoch = time.Date(2016, 11, 1, 0, 0, 0, 0, time.UTC)

const (
	// maxClockBack is how far the clock may step back before Next fails
	// rather than wait (ShardingSphere tolerates 10 ms the same way).
	maxClockBack = 10 * time.Millisecond
	// maxFloorWait bounds the wait for the clock to pass a granted floor
	// (the previous holder's reservation, a few seconds at most).
	maxFloorWait = 5 * time.Second
	// defaultGrantWait bounds how long a key waits for a worker id to be
	// granted (a claim is one or two registry round trips).
	defaultGrantWait = 5 * time.Second
	// vibrations: each millisecond's sequence starts one further on
	// (mod 256), so low traffic (one key per ms) spreads over the residues
	// of `key % n` instead of giving sequence 0, an even key, every time.
	vibrations = 256
	seqMask    = 0xfff
)

// NewSnowflake returns a generator with worker id w (0..1023) for good:
// for tests and tools that own their id.
func NewSnowflake(w int64) (*Snowflake, error) {
	if w < 0 || w > 1023 {
		return nil, fmt.Errorf("sharding: SNOWFLAKE worker id %d out of 0..1023", w)
	}
	s := NewClaimedSnowflake()
	s.Grant(w, time.Time{}, MillisTime(1<<41-1))
	return s, nil
}

// NewClaimedSnowflake returns a generator without a worker id: Wanted is
// closed at the first key asked for, and keys wait (a bounded time) for
// Grant.
func NewClaimedSnowflake() *Snowflake {
	return &Snowflake{worker: -1, now: time.Now, wanted: make(chan struct{}), grantWait: defaultGrantWait,
		why: fmt.Errorf("%w: not claimed yet", ErrNoWorker)}
}

// Millis is t in the generator's milliseconds.
func Millis(t time.Time) int64 { return t.Sub(snowflakeEpoch).Milliseconds() }

// MillisTime is the time of generator millisecond ms.
func MillisTime(ms int64) time.Time { return snowflakeEpoch.Add(time.Duration(ms) * time.Millisecond) }

// Wanted is closed when the first key is asked for: a claimer waits for it
// so that instances that never generate keys claim nothing.
func (s *Snowflake) Wanted() <-chan struct{} { return s.wanted }

// Grant makes w the worker id, keys only after floor (the previous
// holder's last possible key) and up to until.
func (s *Snowflake) Grant(w int64, floor, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := Millis(floor)
	if floor.IsZero() {
		f = 0
	}
	if w != s.worker {
		// Another id: the next key in a later millisecond than any before,
		// so the generator's keys keep increasing.
		s.full = true
	}
	if f > s.last {
		s.last, s.full = f, true
	}
	s.worker, s.floor, s.until, s.why = w, f, Millis(until), nil
}

// Extend moves the reservation's end.
func (s *Snowflake) Extend(until time.Time) {
	s.mu.Lock()
	s.until = Millis(until)
	s.mu.Unlock()
}

// Revoke takes the worker id away: keys fail with why (wrapped in
// ErrNoWorker) until the next Grant.
func (s *Snowflake) Revoke(why error) {
	s.mu.Lock()
	s.worker, s.why = -1, fmt.Errorf("%w: %w", ErrNoWorker, why)
	s.mu.Unlock()
}

// Worker is the worker id (-1: none) and the millisecond of the last key
// (or of the granted floor).
func (s *Snowflake) Worker() (id int64, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.worker, MillisTime(s.last)
}

// Next returns a new key.
func (s *Snowflake) Next() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.asked {
		s.asked = true
		close(s.wanted)
	}
	for waited := time.Duration(0); s.worker < 0; waited += 10 * time.Millisecond {
		if waited >= s.grantWait {
			return 0, s.why
		}
		s.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		s.mu.Lock()
	}
	for {
		ms := Millis(s.now())
		if ms > s.until {
			return 0, fmt.Errorf("%w: worker id %d's reservation in the registry ended %v ago (is the registry reachable?); no key is issued that another instance could repeat",
				ErrNoWorker, s.worker, time.Duration(ms-s.until)*time.Millisecond)
		}
		switch {
		case ms > s.last:
			s.vib = (s.vib + 1) % vibrations
			s.last, s.seq, s.full = ms, s.vib, false
			return s.key(), nil
		case ms == s.last && !s.full:
			if s.seq == seqMask {
				s.full = true
				continue
			}
			s.seq++
			return s.key(), nil
		}
		// The clock is behind the last key's millisecond (or this one is
		// used up): wait, a bounded time.
		limit := maxClockBack
		if s.last <= s.floor {
			limit = maxFloorWait
		}
		if back := time.Duration(s.last-ms) * time.Millisecond; back > limit {
			if s.last <= s.floor {
				return 0, fmt.Errorf("sharding: the clock is %v behind worker id %d's last use (registry high-water mark); SNOWFLAKE keys would repeat, refusing to issue one", back, s.worker)
			}
			return 0, fmt.Errorf("sharding: the clock stepped back %v; SNOWFLAKE keys would repeat, refusing to issue one", back)
		}
		s.mu.Unlock()
		time.Sleep(100 * time.Microsecond)
		s.mu.Lock()
		if s.worker < 0 {
			return 0, s.why
		}
	}
}

func (s *Snowflake) key() int64 { return s.last<<22 | s.worker<<12 | s.seq }
