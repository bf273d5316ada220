package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shardgate/shardgate/console"
	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/orchestration"
	"github.com/shardgate/shardgate/registry"
	"github.com/shardgate/shardgate/registry/connect"
	"github.com/shardgate/shardgate/registry/memory"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	goleak.VerifyTestMain(m)
}

const fileYAML = `
users: [{name: app, password: secret}]
dataSources:
  ds_master: {url: 127.0.0.1:3316, username: root, password: hidden-pw}
  ds_slave_0: {url: 127.0.0.1:3317, username: root}
masterSlaveRule: {masterDataSourceName: ds_master, slaveDataSourceNames: [ds_slave_0]}
orchestration: {name: app}
`

// The console over both real registries: state, a live update pushed as a
// server-sent event, and a button's POST writing the registry node.
func TestConsoleOverRegistries(t *testing.T) {
	etcd := testenv.StartEtcd(t, testenv.Require(t, "etcd"))
	zk := testenv.StartZooKeeper(t)
	for _, rc := range []registry.Config{
		{Type: registry.TypeEtcd, ServerLists: []string{etcd.Endpoint}, Namespace: "/app"},
		{Type: registry.TypeZooKeeper, ServerLists: []string{zk.Addr()}, Namespace: "/shardgate/app"},
	} {
		t.Run(rc.Type, func(t *testing.T) { testConsole(t, rc) })
	}
}

func testConsole(t *testing.T, rc registry.Config) {
	ctx := context.Background()
	reg, err := connect.Open(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	f, err := orchestration.ParseFile([]byte(fileYAML))
	if err != nil {
		t.Fatal(err)
	}
	o, _, err := orchestration.New(ctx, reg, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Register(ctx, &orchestration.InstanceMeta{Address: "127.0.0.1:3307", Version: "test"}); err != nil {
		t.Fatal(err)
	}
	defer o.Close()

	c, err := console.New(reg, rc.Namespace, console.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(c)
	defer srv.Close()
	bearer := "Bearer " + c.Token()

	// Live updates: the first event is the state, the next follows a change.
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events", nil)
	req.Header.Set("Authorization", bearer)
	ectx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ectx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewScanner(resp.Body)
	events.Buffer(make([]byte, 1<<20), 1<<20)
	next := func() console.State {
		t.Helper()
		for events.Scan() {
			if data, ok := strings.CutPrefix(events.Text(), "data: "); ok {
				var st console.State
				if err := json.Unmarshal([]byte(data), &st); err != nil {
					t.Fatal(err)
				}
				return st
			}
		}
		t.Fatalf("event stream ended: %v", events.Err())
		return console.State{}
	}
	st := next()
	if len(st.Instances) != 1 || st.Instances[0].ID != o.ID() || len(st.DataSources) != 2 {
		t.Fatalf("state: %+v", st)
	}
	for p, y := range st.Config {
		if strings.Contains(y, "hidden-pw") || strings.Contains(y, "password: secret") {
			t.Fatalf("password shown in %s:\n%s", p, y)
		}
	}

	// A button's POST.
	post := func(path string, header bool) int {
		req, _ := http.NewRequest("POST", srv.URL+path, nil)
		req.Header.Set("Authorization", bearer)
		if header {
			req.Header.Set("X-Shardgate-Console", "1")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/api/datasources/ds_slave_0/disable", false); code != http.StatusForbidden {
		t.Fatalf("post without the console header: %d", code)
	}
	if code := post("/api/datasources/nope/disable", true); code != http.StatusNotFound {
		t.Fatalf("unknown data source: %d", code)
	}
	if code := post("/api/datasources/ds_slave_0/disable", true); code != http.StatusOK {
		t.Fatalf("disable: %d", code)
	}
	if v, _, _ := reg.Get(ctx, orchestration.DataSourcePath("ds_slave_0")); string(v) != "DISABLED" {
		t.Fatalf("node after disable: %q", v)
	}
	for {
		st = next()
		if st.DataSources[1].Name == "ds_slave_0" && st.DataSources[1].State == "disabled" {
			break
		}
	}
	if code := post("/api/instances/"+o.ID()+"/disable", true); code != http.StatusOK {
		t.Fatalf("disable instance: %d", code)
	}
	for {
		if st = next(); st.Instances[0].State == "disabled" {
			break
		}
	}
}

// Nothing is read or changed without the token: not the page, the state,
// the events or a button's POST; a session cookie comes from the login
// form or the printed ?token= URL (HttpOnly, SameSite=Strict); a request
// naming another host (DNS rebinding) or a POST from another origin is
// refused even with it.
func TestConsoleLogin(t *testing.T) {
	reg, err := memory.Open(context.Background(), registry.Config{Type: registry.TypeMemory, ServerLists: []string{memory.NewServer().Name()}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	c, err := console.New(reg, "/login-test", console.Options{Token: "s3cret-token"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(c)
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, set func(*http.Request)) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("X-Shardgate-Console", "1")
		if set != nil {
			set(req)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, r := range []struct{ method, path string }{{"GET", "/api/state"}, {"GET", "/api/events"}, {"POST", "/api/datasources/x/disable"}, {"GET", "/?token=wrong"}} {
		if code := do(r.method, r.path, nil).StatusCode; code != http.StatusUnauthorized {
			t.Errorf("%s %s without the token: %d", r.method, r.path, code)
		}
	}
	resp := do("GET", "/?token=s3cret-token", nil)
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "shardgate_console" {
			session = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login by URL: %d %+v", resp.StatusCode, session)
	}
	withCookie := func(r *http.Request) { r.AddCookie(session) }
	if code := do("GET", "/api/state", withCookie).StatusCode; code != http.StatusOK {
		t.Fatalf("state with the session: %d", code)
	}
	form := func(r *http.Request) {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Body = io.NopCloser(strings.NewReader("token=s3cret-token"))
	}
	if resp := do("POST", "/login", form); resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) == 0 {
		t.Fatalf("login form: %d", resp.StatusCode)
	}
	if code := do("GET", "/api/state", func(r *http.Request) { withCookie(r); r.Host = "rebound.example:80" }).StatusCode; code != http.StatusMisdirectedRequest {
		t.Fatalf("another Host: %d", code)
	}
	if code := do("POST", "/api/datasources/x/disable", func(r *http.Request) { withCookie(r); r.Header.Set("Origin", "http://evil.example") }).StatusCode; code != http.StatusForbidden {
		t.Fatalf("cross-origin POST: %d", code)
	}
	if code := do("GET", "/api/state", func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") }).StatusCode; code != http.StatusUnauthorized {
		t.Fatalf("wrong bearer: %d", code)
	}
}
