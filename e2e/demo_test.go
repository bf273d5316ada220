package e2e

import (
	"bufio"
	"database/sql"
	"fmt"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// `shardgate demo` with no flags and nothing installed: it prints how to
// connect, serves through its proxy, and stops cleanly on Ctrl-C.
func TestDemoCommand(t *testing.T) {
	cmd := exec.Command(binPath, "demo", "--listen", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0",
		"--console", "127.0.0.1:0", "--admin", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	port := make(chan string, 1)
	lines := make(chan string, 100)
	go func() {
		re := regexp.MustCompile(`mariadb -h127\.0\.0\.1 -P(\d+) `)
		s := bufio.NewScanner(out)
		for s.Scan() {
			select {
			case lines <- s.Text():
			default:
			}
			if m := re.FindStringSubmatch(s.Text()); m != nil {
				port <- m[1]
			}
		}
	}()
	var p string
	select {
	case p = <-port:
	case <-time.After(60 * time.Second):
		t.Fatalf("demo printed no connect command")
	}
	db, err := sql.Open("mysql", fmt.Sprintf("demo:demo@tcp(127.0.0.1:%s)/demo", p))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id int
	if err := db.QueryRow("SELECT @@server_id").Scan(&id); err != nil || (id != 2 && id != 3) {
		t.Fatalf("read through the demo: server %d, %v", id, err)
	}
	db.Close()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo after Ctrl-C: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("demo did not stop after Ctrl-C")
	}
}
