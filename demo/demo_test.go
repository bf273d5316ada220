package demo_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	_ "github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/demo"
	"github.com/shardgate/shardgate/internal/testenv"
)

func start(t *testing.T) *demo.Demo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := demo.Start(ctx, demo.Options{
		ProxyAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", ConsoleAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		DataDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func open(t *testing.T, d *demo.Demo) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/demo", demo.User, demo.Password, d.Instance.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func readIDs(t *testing.T, db *sql.DB, n int) map[int]int {
	t.Helper()
	ids := map[int]int{}
	for range n {
		var id int
		if err := db.QueryRow("SELECT @@server_id").Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id]++
	}
	return ids
}

// The demo runs with nothing installed, and a user sees routing at work.
func TestDemo(t *testing.T) {
	d := start(t)
	db := open(t, d)
	if ids := readIDs(t, db, 10); ids[2] == 0 || ids[3] == 0 || ids[1] != 0 {
		t.Fatalf("reads through the demo proxy: %v", ids)
	}
	if _, err := db.Exec("INSERT INTO items (name) VALUES ('through the proxy')"); err != nil {
		t.Fatal(err)
	}
	var n0 int
	if err := db.QueryRow("SELECT COUNT(*) FROM items WHERE name = 'through the proxy'").Scan(&n0); err != nil || n0 != 1 {
		t.Fatalf("a write through the proxy is not visible on the slaves: %d %v", n0, err)
	}
	// The sharded table: rows on both groups, merged in order; PREVIEW
	// names the group's data source.
	if _, err := db.Exec("INSERT INTO t_order (user_id, amount) VALUES (5, 1.00), (6, 2.00)"); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("SELECT user_id, amount FROM t_order ORDER BY user_id")
	if err != nil {
		t.Fatal(err)
	}
	var users []int
	for rows.Next() {
		var u int
		var amount string
		if err := rows.Scan(&u, &amount); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	rows.Close()
	if fmt.Sprint(users) != "[1 2 3 4 5 6]" {
		t.Fatalf("t_order through the proxy: users %v", users)
	}
	// Merges on keys the rule does not shard by compare here: the
	// in-memory servers have no WEIGHT_STRING (props.shardingCompareLocally).
	var distinct int
	var most string
	if err := db.QueryRow("SELECT COUNT(DISTINCT amount), MAX(amount) FROM t_order").Scan(&distinct, &most); err != nil || distinct != 6 || most != "30.00" {
		t.Fatalf("merged aggregates in the demo: %d %q %v", distinct, most, err)
	}
	var ds, actual string
	if err := db.QueryRow("PREVIEW SELECT * FROM t_order WHERE user_id = 1").Scan(&ds, &actual); err != nil || ds != "ds1_slave_0" {
		t.Fatalf("PREVIEW: %q %q %v", ds, actual, err)
	}
	var n int
	for _, b := range d.Backends[3:4] { // ms_1's master holds the odd users' rows
		bdb, err := sql.Open("mysql", "root@tcp("+b.Addr+")/demo")
		if err != nil {
			t.Fatal(err)
		}
		err = bdb.QueryRow("SELECT (SELECT COUNT(*) FROM t_order_0) + (SELECT COUNT(*) FROM t_order_1)").Scan(&n)
		bdb.Close()
		if err != nil || n != 3 {
			t.Fatalf("rows on ms_1: %d %v", n, err)
		}
	}
	var howto strings.Builder
	if err := d.PrintHowTo(&howto, "shardgate"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mariadb -h127.0.0.1 -P", d.ConsoleURL, "disable datasource ds_slave_0", "etcdctl --endpoints=", d.Instance.Orchestrator.ID()} {
		if !strings.Contains(howto.String(), want) {
			t.Errorf("how-to lacks %q:\n%s", want, howto.String())
		}
	}
	// The printed etcdctl commands work as printed (the registry has
	// authentication on); without the credential nothing is changed.
	if testenv.Require(t, "etcdctl") == "" {
		return
	}
	var disable, enable string
	for _, l := range strings.Split(howto.String(), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "ETCDCTL_API=3 etcdctl") && strings.HasSuffix(l, "ds_slave_0 DISABLED"):
			disable = l
		case strings.HasPrefix(l, "ETCDCTL_API=3 etcdctl") && strings.HasSuffix(l, `ds_slave_0 ""`):
			enable = l
		}
	}
	sh := func(cmd string) error {
		out, err := exec.Command("bash", "-c", cmd).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", cmd, err, out)
		}
		return nil
	}
	if err := sh(strings.Replace(disable, `--user "$(cat `+d.CredentialFile()+`)" `, "", 1)); err == nil {
		t.Fatal("etcdctl without the credential changed the registry")
	}
	if err := sh(disable); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for readIDs(t, db, 10)[2] != 0 {
		if time.Now().After(deadline) {
			t.Fatal("ds_slave_0 still serves reads after the printed etcdctl command")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := sh(enable); err != nil {
		t.Fatal(err)
	}
}

// clickLive clicks the element sel names on a page that re-renders its
// tables live: a node replaced between finding it and clicking it ("Could
// not find node with given id") is looked up again.
func clickLive(sel string) chromedp.Action[chromedp.Void] {
	click := chromedp.Click(chromedp.CSS(sel))
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var err error
		for range 10 {
			if _, err = click(ctx, tg); err == nil || !strings.Contains(err.Error(), "Could not find node") {
				return err
			}
			time.Sleep(50 * time.Millisecond)
		}
		return err
	})
}

// textLive reads the text of sel until it is want or 5 s have passed, and
// returns the last one read: the live tables re-render on every event, so
// a node found may be replaced before its text is read (CI flake: health
// shown as ""), and the monitor's first view may not be published yet.
func textLive(ctx context.Context, sel string, want string) (string, error) {
	var text string
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel))); err == nil && text == want {
			break
		}
	}
	return text, err
}

// The console, driven in headless Chromium: clicking "disable" on a slave
// writes DISABLED to its registry node, the page shows it live, and the
// proxy stops reading from that slave.
func TestConsoleInChromium(t *testing.T) {
	chromium := testenv.Require(t, "chromium", "chromium-browser", "google-chrome")
	d := start(t)
	db := open(t, d)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	// The first call starts the browser: it runs on the context without a
	// timeout, the later ones are bounded.
	// Without the token: the login page, no state.
	if err := chromedp.Do(bctx, chromedp.Navigate(d.ConsoleURL)); err != nil {
		t.Fatalf("open console: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#token"))); err != nil {
		t.Fatalf("login page: %v", err)
	}
	if body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"))); err != nil || strings.Contains(body, "ds_slave_0") {
		t.Fatalf("state shown before login (%v):\n%s", err, body)
	}
	// A wrong token, then the right one, typed into the form.
	err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#token"), "wrong"), chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	if err != nil {
		t.Fatalf("wrong token: %v", err)
	}
	slave0 := chromedp.CSS(`[data-testid="state-ds_slave_0"]`)
	err = chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#token"), d.ConsoleToken), chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(slave0))
	if err != nil {
		t.Fatalf("console page after login: %v", err)
	}
	if state, err := textLive(ctx, `[data-testid="state-ds_slave_0"]`, "enabled"); err != nil || state != "enabled" {
		t.Fatalf("ds_slave_0 shown as %q (%v)", state, err)
	}
	// The monitor's view, published by the instance, is shown beside it.
	health := chromedp.CSS(`[data-testid="health-ds_slave_0"]`)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(health)); err != nil {
		t.Fatalf("health table: %v", err)
	}
	if status, err := textLive(ctx, `[data-testid="health-ds_slave_0"]`, "up"); err != nil || status != "up" {
		t.Fatalf("ds_slave_0's health shown as %q (%v)", status, err)
	}
	err = chromedp.Do(ctx,
		clickLive(`[data-testid="disable-ds_slave_0"]`),
		chromedp.WaitVisible(chromedp.CSS(`td.disabled[data-testid="state-ds_slave_0"]`)),
	)
	if err != nil {
		t.Fatalf("click disable: %v", err)
	}
	v, _, err := d.Instance.Registry.Get(context.Background(), "/state/datasources/ds_slave_0")
	if err != nil || string(v) != "DISABLED" {
		t.Fatalf("registry node after the click: %q %v", v, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids := readIDs(t, db, 10)
		if ids[2] == 0 && ids[3] == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy still reads from the disabled slave: %v", ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Enable again from the page.
	err = chromedp.Do(ctx,
		clickLive(`[data-testid="enable-ds_slave_0"]`),
		chromedp.WaitVisible(chromedp.CSS(`td.enabled[data-testid="state-ds_slave_0"]`)),
	)
	if err != nil {
		t.Fatalf("click enable: %v", err)
	}
	if p := os.Getenv("SHARDGATE_SCREENSHOT"); p != "" {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(p, png, 0o644)
		}
	}
	// Passwords are masked in the config view.
	if html, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#config"))); err != nil || strings.Contains(html, "password: demo") || !strings.Contains(html, "password: '******'") {
		t.Fatalf("config view (%v):\n%s", err, html)
	}
	// No action without the token: a post (cross-site form, or a script)
	// is refused and the node is untouched.
	resp, err := http.Post(d.ConsoleURL+"api/datasources/ds_slave_1/disable", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("post without the token: %d", resp.StatusCode)
	}
	if v, _, _ := d.Instance.Registry.Get(context.Background(), "/state/datasources/ds_slave_1"); string(v) == "DISABLED" {
		t.Fatal("a post without the token disabled ds_slave_1")
	}
}
