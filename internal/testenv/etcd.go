package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Etcd is a real etcd server process on loopback.
type Etcd struct {
	*Process
	Endpoint string // host:port for clients
	Binary   string
	t        testing.TB
}

var (
	etcd37Once sync.Once
	etcd37Path string
	etcd37Err  error
)

// Etcd37Binary builds (once per test process) the current etcd server from
// the etcd module this project uses, and returns its path.
func Etcd37Binary(t testing.TB) string {
	t.Helper()
	etcd37Once.Do(func() {
		dir, err := os.MkdirTemp("", "shardgate-etcd37-")
		if err != nil {
			etcd37Err = err
			return
		}
		etcd37Path = filepath.Join(dir, "etcd37")
		cmd := exec.Command("go", "build", "-o", etcd37Path, "github.com/shardgate/shardgate/internal/testenv/etcd37")
		if out, err := cmd.CombinedOutput(); err != nil {
			etcd37Err = &buildError{err: err, out: string(out)}
		}
	})
	if etcd37Err != nil {
		t.Fatalf("building etcd 3.7: %v", etcd37Err)
	}
	return etcd37Path
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// StartEtcd starts the etcd server binary (Require(t, "etcd") for Debian's
// 3.4, or Etcd37Binary) with its data under a temp dir; extra flags are
// appended (e.g. TLS). It stops when the test ends.
func StartEtcd(t testing.TB, binary string, extra ...string) *Etcd {
	t.Helper()
	dir := t.TempDir()
	client, peer := FreePort(t), FreePort(t)
	scheme := "http"
	for _, f := range extra {
		if strings.HasPrefix(f, "--cert-file") {
			scheme = "https"
		}
	}
	curl := scheme + "://127.0.0.1:" + Itoa(client)
	purl := "http://127.0.0.1:" + Itoa(peer)
	args := []string{
		"--name", "n1", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", curl, "--advertise-client-urls", curl,
		"--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
		"--initial-cluster", "n1=" + purl,
		// Keep revisions so tests decide when to compact.
		"--auto-compaction-retention", "0",
	}
	args = append(args, extra...)
	e := &Etcd{
		Process:  NewProcess(t, filepath.Join(dir, "etcd.log"), nil, binary, args...),
		Endpoint: "127.0.0.1:" + Itoa(client),
		Binary:   binary,
		t:        t,
	}
	e.Start()
	return e
}

// Start starts the server (again) and waits until it serves.
func (e *Etcd) Start() {
	e.t.Helper()
	e.Process.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := WaitTCP(ctx, e.Endpoint); err != nil {
		e.t.Fatalf("etcd did not start: %v\n%s", err, e.LogTail())
	}
}

// Etcdctl runs the real etcdctl (API v3) against the server.
func (e *Etcd) Etcdctl(args ...string) (string, error) {
	bin := Require(e.t, "etcdctl")
	cmd := exec.Command(bin, append([]string{"--endpoints=" + e.Endpoint}, args...)...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// StartEtcdCluster starts an n-member etcd cluster of binary on loopback.
func StartEtcdCluster(t testing.TB, binary string, n int) []*Etcd {
	t.Helper()
	dir := t.TempDir()
	type ports struct{ client, peer int }
	ps := make([]ports, n)
	var initial []string
	for i := range ps {
		ps[i] = ports{FreePort(t), FreePort(t)}
		initial = append(initial, "m"+Itoa(i)+"=http://127.0.0.1:"+Itoa(ps[i].peer))
	}
	members := make([]*Etcd, n)
	for i, p := range ps {
		curl := "http://127.0.0.1:" + Itoa(p.client)
		purl := "http://127.0.0.1:" + Itoa(p.peer)
		name := "m" + Itoa(i)
		args := []string{
			"--name", name, "--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", curl, "--advertise-client-urls", curl,
			"--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-token", "shardgate-test", "--initial-cluster-state", "new",
		}
		members[i] = &Etcd{
			Process:  NewProcess(t, filepath.Join(dir, name+".log"), nil, binary, args...),
			Endpoint: "127.0.0.1:" + Itoa(p.client),
			Binary:   binary,
			t:        t,
		}
		members[i].Process.Start()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, m := range members {
		if err := WaitTCP(ctx, m.Endpoint); err != nil {
			t.Fatalf("etcd member did not start: %v\n%s", err, m.LogTail())
		}
	}
	return members
}

// EtcdctlT runs the real etcdctl against e.Endpoint (usable on an Etcd
// value that only names an endpoint, such as an embedded server).
func (e *Etcd) EtcdctlT(t testing.TB, args ...string) (string, error) {
	bin := Require(t, "etcdctl")
	cmd := exec.Command(bin, append([]string{"--endpoints=" + e.Endpoint}, args...)...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	out, err := cmd.CombinedOutput()
	return string(out), err
}
