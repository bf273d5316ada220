package proxy

import (
	"sync"
	"time"
)

// loginGuard throttles password guessing: an address with limit failed
// logins within window is refused (ERR 1129, before any password is
// checked) until window has passed since its first failure. Failures are
// logged with the user and the address.
type loginGuard struct {
	mu    sync.Mutex
	fails map[string]*failures
}

type failures struct {
	n     int
	first time.Time
}

// maxTracked bounds the addresses remembered (a scan from many addresses
// must not grow memory without bound); the oldest are forgotten first.
const maxTracked = 10000

// blocked reports whether addr is refused now, and until when.
func (g *loginGuard) blocked(addr string, limit int, window time.Duration) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.fails[addr]
	if f == nil {
		return time.Time{}, false
	}
	until := f.first.Add(window)
	if time.Now().After(until) {
		delete(g.fails, addr)
		return time.Time{}, false
	}
	return until, f.n >= limit
}

// failed records a failed login from addr and returns the failures in
// the current window.
func (g *loginGuard) failed(addr string, window time.Duration) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if g.fails == nil {
		g.fails = map[string]*failures{}
	}
	f := g.fails[addr]
	if f == nil || now.After(f.first.Add(window)) {
		if len(g.fails) >= maxTracked {
			g.pruneLocked(now, window)
		}
		f = &failures{first: now}
		g.fails[addr] = f
	}
	f.n++
	return f.n
}

// succeeded forgets addr's failures.
func (g *loginGuard) succeeded(addr string) {
	g.mu.Lock()
	delete(g.fails, addr)
	g.mu.Unlock()
}

func (g *loginGuard) pruneLocked(now time.Time, window time.Duration) {
	var oldest string
	var at time.Time
	for a, f := range g.fails {
		if now.After(f.first.Add(window)) {
			delete(g.fails, a)
			continue
		}
		if oldest == "" || f.first.Before(at) {
			oldest, at = a, f.first
		}
	}
	if len(g.fails) >= maxTracked {
		delete(g.fails, oldest)
	}
}
