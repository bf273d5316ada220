// Package console serves the web console: every instance and data source
// of one orchestration with its state, updated live from a registry watch
// (server-sent events), enable/disable buttons, and a read-only view of
// the configuration, to a browser logged in with the console's token
// (auth.go: session cookie, Host and Origin checks). It changes the registry only through package ctl, so
// it writes exactly what zkCli.sh or etcdctl would.
package console

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/ctl"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
)

//go:embed index.html
var indexHTML []byte

// Console is the web console's handler.
type Console struct {
	ctl     *ctl.Ctl
	mux     *http.ServeMux
	auth    *auth
	handler http.Handler

	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	changed chan struct{} // closed at the next registry change
}

// New starts watching the orchestration's registry (reg is rooted at
// root) and returns the console, which serves only a browser logged in
// with its token (o). Close stops it.
func New(reg registry.Registry, root string, o Options) (*Console, error) {
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := reg.Watch(ctx, "/")
	if err != nil {
		cancel()
		return nil, fmt.Errorf("console: watch %s: %w", root, err)
	}
	c := &Console{
		ctl:     &ctl.Ctl{Reg: reg, Root: root, Out: io.Discard},
		mux:     http.NewServeMux(),
		cancel:  cancel,
		changed: make(chan struct{}),
		auth:    newAuth(o),
	}
	c.handler = c.auth.protect(c.mux)
	c.wg.Add(1)
	go c.follow(ch)
	c.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(indexHTML)
	})
	c.mux.HandleFunc("GET /api/state", c.getState)
	c.mux.HandleFunc("GET /api/events", c.events)
	c.mux.HandleFunc("POST /api/instances/{id}/{action}", c.setInstance)
	c.mux.HandleFunc("POST /api/datasources/{name}/{action}", c.setDataSource)
	return c, nil
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

// Token is what logs in to the console.
func (c *Console) Token() string { return string(c.auth.token) }

// Close stops the registry watch.
func (c *Console) Close() {
	c.cancel()
	c.wg.Wait()
}

// follow turns registry events into change notifications.
func (c *Console) follow(ch <-chan registry.Event) {
	defer c.wg.Done()
	for range ch {
		c.mu.Lock()
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

func (c *Console) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// State is what the page shows.
type State struct {
	Root        string           `json:"root"`
	Instances   []ctl.Instance   `json:"instances"`
	DataSources []ctl.DataSource `json:"dataSources"`
	// Health is what each instance's monitor sees of each data source.
	Health []ctl.HealthRow   `json:"health"`
	Config map[string]string `json:"config"`
	Error  string            `json:"error,omitempty"`
	At     time.Time         `json:"at"`
}

func (c *Console) state(ctx context.Context) State {
	st := State{Root: c.ctl.Root, Config: map[string]string{}, At: time.Now().UTC()}
	var errs []error
	var err error
	st.Instances, err = c.ctl.Instances(ctx)
	errs = append(errs, err)
	st.DataSources, err = c.ctl.DataSources(ctx)
	errs = append(errs, err)
	st.Health, err = c.ctl.Health(ctx)
	errs = append(errs, err)
	nodes, err := orchestration.ReadConfig(ctx, c.ctl.Reg)
	errs = append(errs, err)
	for p, n := range nodes {
		// The console shows the config to whoever reaches it: secrets masked.
		st.Config[c.ctl.Root+p] = string(config.MaskSecrets(n.Value))
	}
	if err := errors.Join(errs...); err != nil {
		st.Error = err.Error()
	}
	return st
}

func (c *Console) getState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, c.state(r.Context()))
}

// events streams the state as server-sent events: once at once, then
// after every registry change.
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	for {
		changed := c.next()
		b, _ := json.Marshal(c.state(r.Context()))
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-changed:
			// Coalesce a burst of events into one update.
			select {
			case <-time.After(20 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		case <-time.After(15 * time.Second):
			// Keep-alive: also refreshes metadata that has no watch event.
		}
	}
}

// guard rejects cross-site form posts: the page sends a custom header,
// which a cross-origin request cannot without a CORS preflight.
func guard(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("X-Shardgate-Console") != "1" {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "missing X-Shardgate-Console header"})
		return false
	}
	return true
}

func action(w http.ResponseWriter, r *http.Request) (disable, ok bool) {
	switch r.PathValue("action") {
	case "disable":
		return true, true
	case "enable":
		return false, true
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown action " + r.PathValue("action")})
	return false, false
}

func (c *Console) setInstance(w http.ResponseWriter, r *http.Request) {
	if !guard(w, r) {
		return
	}
	if disable, ok := action(w, r); ok {
		c.reply(w, c.ctl.SetInstance(r.Context(), r.PathValue("id"), disable))
	}
}

func (c *Console) setDataSource(w http.ResponseWriter, r *http.Request) {
	if !guard(w, r) {
		return
	}
	if disable, ok := action(w, r); ok {
		c.reply(w, c.ctl.SetDataSource(r.Context(), r.PathValue("name"), disable))
	}
}

func (c *Console) reply(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]string{"ok": "done"})
	case errors.Is(err, ctl.ErrUnknown):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
