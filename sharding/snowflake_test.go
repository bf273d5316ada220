package sharding

import (
	"errors"
	"testing"
	"time"
)

func TestSnowflake(t *testing.T) {
	s, err := NewSnowflake(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	var last int64
	for range 20000 {
		k, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if seen[k] || k <= last || (k>>12)&0x3ff != 5 {
			t.Fatalf("key %d after %d", k, last)
		}
		seen[k], last = true, k
	}
	if _, err := NewSnowflake(1024); err == nil {
		t.Error("worker 1024 accepted")
	}
	now := time.Now()
	s.now = func() time.Time { return now.Add(-time.Second) }
	if _, err := s.Next(); err == nil {
		t.Error("a clock a second back gave a key")
	}
}

// A clock that ticks once per key: one key per millisecond, the low-traffic
// case, must not give only even keys.
func TestSnowflakeLowTraffic(t *testing.T) {
	s, _ := NewSnowflake(3)
	ms := time.Now()
	s.now = func() time.Time { ms = ms.Add(time.Millisecond); return ms }
	var mod4 [4]int
	for range 1000 {
		k, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		mod4[k%4]++
	}
	for i, n := range mod4 {
		if n < 200 {
			t.Errorf("key %% 4 == %d for %d of 1000 keys: %v", i, n, mod4)
		}
	}
}

func TestSnowflakeGrants(t *testing.T) {
	s := NewClaimedSnowflake()
	select {
	case <-s.Wanted():
		t.Fatal("wanted before any key was asked for")
	default:
	}
	go func() {
		<-s.Wanted()
		now := time.Now()
		// The previous holder may have used ids up to 30 ms from now.
		s.Grant(7, now.Add(30*time.Millisecond), now.Add(3*time.Second))
	}()
	start := time.Now()
	k, err := s.Next()
	if err != nil {
		t.Fatal(err)
	}
	if w := (k >> 12) & 0x3ff; w != 7 {
		t.Fatalf("worker %d, want 7", w)
	}
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Errorf("a key %v after the grant, before the floor passed", d)
	}
	if ms := k >> 22; ms <= Millis(start) {
		t.Errorf("key of millisecond %d, not after the floor", ms)
	}
	s.Revoke(errors.New("session lost"))
	s.grantWait = 200 * time.Millisecond
	s2 := time.Now()
	if _, err := s.Next(); !errors.Is(err, ErrNoWorker) || time.Since(s2) < s.grantWait {
		t.Errorf("revoked: %v after %v, want ErrNoWorker after %v", err, time.Since(s2), s.grantWait)
	}
	// Another id continues; a reservation that ended stops keys.
	now := time.Now()
	s.Grant(8, time.Time{}, now.Add(time.Second))
	if k, err := s.Next(); err != nil || (k>>12)&0x3ff != 8 {
		t.Fatalf("after a new grant: %d, %v", k, err)
	}
	s.Extend(now.Add(-time.Millisecond))
	if _, err := s.Next(); !errors.Is(err, ErrNoWorker) {
		t.Errorf("past the reservation: %v, want ErrNoWorker", err)
	}
}
