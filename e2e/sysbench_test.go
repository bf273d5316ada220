package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shardgate/shardgate/internal/testenv"
	"github.com/shardgate/shardgate/internal/testenv/orchenv"
)

// The sysbench tables (sbtest.sbtest1, 1,000 rows) are prepared once per
// test process, directly on the master, and replicated to the slaves.
var sbOnce sync.Once

// sysbenchReady returns sysbench's path once sbtest is ready on every server.
func sysbenchReady(t *testing.T, r *testenv.Replication) string {
	t.Helper()
	sb := testenv.Require(t, "sysbench")
	var err error
	sbOnce.Do(func() {
		r.Master.Exec(t, "CREATE DATABASE IF NOT EXISTS sbtest")
		out, e := exec.Command(sb, append(sbArgs("oltp_read_only", r.Master.Port, "root", testenv.RootPassword), "prepare")...).CombinedOutput()
		if e != nil && !strings.Contains(string(out), "already exists") {
			err = fmt.Errorf("sysbench prepare: %v\n%s", e, out)
		}
		r.Sync(t)
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

func sbArgs(workload string, port int, user, pw string) []string {
	return []string{workload, "--db-driver=mysql", "--mysql-host=127.0.0.1", fmt.Sprintf("--mysql-port=%d", port),
		"--mysql-user=" + user, "--mysql-password=" + pw, "--mysql-db=sbtest", "--tables=1", "--table-size=1000"}
}

// sbYAML is instanceYAML on the sysbench database.
func sbYAML(r *testenv.Replication, env *orchenv.Registry, name string, port int) string {
	return strings.ReplaceAll(instanceYAML(r, env, name, port), "database: e2e", "database: sbtest")
}

// sbRun is one running `sysbench ... run` through a proxy.
type sbRun struct {
	mu   sync.Mutex
	out  strings.Builder
	done chan error
	err  error
	res  string
	once sync.Once
}

func (s *sbRun) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

// startSysbench runs workload for secs seconds against the proxy on port;
// extra are more sysbench options. It is killed when the test ends.
func startSysbench(t *testing.T, sb string, port int, workload string, secs int, extra ...string) *sbRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	args := append(sbArgs(workload, port, user, password), extra...)
	args = append(args, fmt.Sprintf("--time=%d", secs), "--report-interval=0", "run")
	cmd := exec.CommandContext(ctx, sb, args...)
	s := &sbRun{done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s, s
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() { cancel(); s.wait() })
	return s
}

// wait waits for sysbench to end and returns its output and error.
func (s *sbRun) wait() (string, error) {
	s.once.Do(func() {
		s.err = <-s.done
		s.mu.Lock()
		s.res = s.out.String()
		s.mu.Unlock()
	})
	return s.res, s.err
}

// ended reports whether sysbench has ended (early, when it should not have).
func (s *sbRun) ended() bool {
	select {
	case err := <-s.done:
		s.done <- err
		return true
	default:
		return false
	}
}

// clean waits for sysbench and fails the test unless it printed its summary
// with 0 ignored errors, 0 reconnects and no FATAL. It returns the summary.
func (s *sbRun) clean(t *testing.T) string {
	t.Helper()
	res, err := s.wait()
	if err != nil || !strings.Contains(res, "queries:") {
		t.Fatalf("sysbench (%v) printed no summary:\n%s", err, res)
	}
	for _, key := range []string{"ignored errors:", "reconnects:"} {
		if n := sbCount(res, key); n != 0 {
			t.Fatalf("sysbench %s %d\n%s", key, n, res)
		}
	}
	if strings.Contains(res, "FATAL") {
		t.Fatalf("sysbench failed:\n%s", res)
	}
	return summaryLine(res)
}

// sbCount is the count after key in sysbench's summary, -1 if absent.
func sbCount(res, key string) int64 {
	_, rest, ok := strings.Cut(res, key)
	f := strings.Fields(rest)
	if !ok || len(f) == 0 {
		return -1
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func summaryLine(res string) string {
	var parts []string
	for _, l := range strings.Split(res, "\n") {
		if strings.Contains(l, "queries:") || strings.Contains(l, "transactions:") || strings.Contains(l, "ignored errors:") {
			parts = append(parts, strings.Join(strings.Fields(l), " "))
		}
	}
	if len(parts) == 0 {
		return "(no summary)"
	}
	return strings.Join(parts, "; ")
}
