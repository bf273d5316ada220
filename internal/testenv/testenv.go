// Package testenv starts real servers (etcd, ZooKeeper, MariaDB) for
// integration tests: on loopback, on free ports, with their data under the
// test's temp dir, stopped when the test ends.
//
// A missing server binary skips the test on a developer machine but fails
// it under CI (CI set), so a broken install never passes silently.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Require returns the path of a server binary, skipping or (under CI)
// failing the test when it is missing.
func Require(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	for _, c := range append(candidates, name) {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; .ci/run must install it", name)
	}
	t.Skipf("%s is not installed (install it to run this test; CI fails instead of skipping)", name)
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitTCP waits until addr accepts TCP connections.
func WaitTCP(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", addr, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Process is a server process that a test can stop, kill and start again.
type Process struct {
	t    testing.TB
	name string
	args []string
	env  []string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// NewProcess prepares (does not start) a server process; its output goes to
// logFile. The process is killed when the test ends.
func NewProcess(t testing.TB, logFile string, env []string, name string, args ...string) *Process {
	p := &Process{t: t, name: name, args: args, env: env, log: logFile}
	t.Cleanup(func() { p.Kill() })
	return p
}

// Start starts the process.
func (p *Process) Start() {
	p.t.Helper()
	if p.cmd != nil {
		p.t.Fatalf("%s already running", p.name)
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatalf("log file: %v", err)
	}
	cmd := exec.Command(p.name, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group, so that Kill also ends children (java wrappers).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(done) }()
	p.cmd, p.done = cmd, done
}

// Pid returns the running process's pid, 0 when stopped.
func (p *Process) Pid() int {
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stop sends SIGTERM and waits for the process to exit (SIGKILL after 15s).
func (p *Process) Stop() { p.signal(syscall.SIGTERM, 15*time.Second) }

// Kill sends SIGKILL and waits.
func (p *Process) Kill() { p.signal(syscall.SIGKILL, 10*time.Second) }

func (p *Process) signal(sig syscall.Signal, wait time.Duration) {
	if p.cmd == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
	case <-time.After(wait):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	p.cmd = nil
}

// LogTail returns the end of the process's log, for failure messages.
func (p *Process) LogTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Itoa is strconv.Itoa, kept here so server files read short.
func Itoa(i int) string { return strconv.Itoa(i) }

// LogPath is the file the process writes its output to.
func (p *Process) LogPath() string { return p.log }
