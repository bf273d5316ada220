package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Where Debian's zookeeper package puts the server and its CLI.
const (
	zkJarDir = "/usr/share/java"
	zkCliSh  = "/usr/share/zookeeper/bin/zkCli.sh"
)

// ZooKeeper is a ZooKeeper 3.8 server (standalone or one ensemble member)
// on a loopback port with its data under the test's temp dir.
type ZooKeeper struct {
	t    testing.TB
	dir  string
	port int
	proc *Process
}

// StartZooKeeper starts a ZooKeeper server and waits until it serves (srvr).
// tickTime is 500ms, so sessions may be as short as 1s (tests use 2–4s TTLs)
// and expire close to their timeout.
func StartZooKeeper(t testing.TB) *ZooKeeper {
	t.Helper()
	return StartZooKeeperEnsemble(t, 1)[0]
}

// StartZooKeeperEnsemble starts n ZooKeeper servers forming one ensemble
// (n = 1: a standalone server) and waits until all serve.
func StartZooKeeperEnsemble(t testing.TB, n int) []*ZooKeeper {
	t.Helper()
	java := Require(t, "java")
	jar := filepath.Join(zkJarDir, "zookeeper.jar")
	if _, err := os.Stat(jar); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ZooKeeper is not installed (%s missing); .ci/run must install the zookeeper package", jar)
		}
		t.Skipf("ZooKeeper is not installed (%s missing; apt-get install zookeeper)", jar)
	}
	base := t.TempDir()
	zs := make([]*ZooKeeper, n)
	var peers strings.Builder
	for i := range zs {
		zs[i] = &ZooKeeper{t: t, dir: filepath.Join(base, fmt.Sprintf("zk%d", i+1)), port: FreePort(t)}
		if n > 1 {
			fmt.Fprintf(&peers, "server.%d=127.0.0.1:%d:%d\n", i+1, FreePort(t), FreePort(t))
		}
	}
	for i, z := range zs {
		for _, d := range []string{"conf", "data", "log"} {
			if err := os.MkdirAll(filepath.Join(z.dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		cfg := fmt.Sprintf(`tickTime=500
initLimit=10
syncLimit=5
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
minSessionTimeout=1000
maxSessionTimeout=60000
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr,cons
%s`, filepath.Join(z.dir, "data"), z.port, peers.String())
		if err := os.WriteFile(filepath.Join(z.dir, "conf", "zoo.cfg"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if n > 1 {
			myid := []byte(fmt.Sprintf("%d\n", i+1))
			if err := os.WriteFile(filepath.Join(z.dir, "data", "myid"), myid, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cp := filepath.Join(z.dir, "conf") + ":" + jar + ":" +
			filepath.Join(zkJarDir, "slf4j-log4j12.jar") + ":" + filepath.Join(zkJarDir, "log4j-1.2.jar")
		z.proc = NewProcess(t, filepath.Join(z.dir, "log", "zookeeper.out"), nil, java,
			"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", cp,
			"-Dzookeeper.log.dir="+filepath.Join(z.dir, "log"),
			"-Dzookeeper.root.logger=INFO,CONSOLE",
			"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(z.dir, "conf", "zoo.cfg"))
		// Members wait for a quorum, so start them all before waiting.
		z.proc.Start()
	}
	for _, z := range zs {
		z.wait(t)
	}
	return zs
}

// Addr returns the client address, 127.0.0.1:port.
func (z *ZooKeeper) Addr() string { return fmt.Sprintf("127.0.0.1:%d", z.port) }

// Start starts the server again (same port, same data) and waits until it
// serves.
func (z *ZooKeeper) Start(t testing.TB) {
	t.Helper()
	z.proc.Start()
	z.wait(t)
}

func (z *ZooKeeper) wait(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := z.waitReady(ctx); err != nil {
		t.Fatalf("zookeeper on %s not ready: %v\n%s", z.Addr(), err, z.proc.LogTail())
	}
}

// LogTail is the end of the server's log, for failure messages.
func (z *ZooKeeper) LogTail() string { return z.proc.LogTail() }

// Stop stops the server gracefully; its data stays for Start.
func (z *ZooKeeper) Stop(t testing.TB) { z.proc.Stop() }

// Kill kills the server with SIGKILL; its data stays for Start.
func (z *ZooKeeper) Kill(t testing.TB) { z.proc.Kill() }

// waitReady polls the four-letter word srvr until the server says it
// serves (ruok answers imok before the server takes sessions).
func (z *ZooKeeper) waitReady(ctx context.Context) error {
	var last error
	for {
		last = z.serving()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (z *ZooKeeper) serving() error {
	c, err := net.DialTimeout("tcp", z.Addr(), 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return err
	}
	b, _ := io.ReadAll(c)
	if !bytes.Contains(b, []byte("Mode: ")) {
		return fmt.Errorf("srvr answered %q", b)
	}
	return nil
}

// ZkCli runs the real zkCli.sh against the server with one command (e.g.
// "set", "/ns/x", "DISABLED") and returns its output. zkCli exits non-zero
// when the command fails (no node, no permission); the output says why.
func (z *ZooKeeper) ZkCli(args ...string) (string, error) {
	return z.runCli(nil, args...)
}

// ZkCliScript feeds lines to one interactive zkCli.sh session (addauth,
// then set) and returns its output.
func (z *ZooKeeper) ZkCliScript(lines ...string) (string, error) {
	var in bytes.Buffer
	for _, l := range lines {
		in.WriteString(l + "\n")
	}
	in.WriteString("quit\n")
	return z.runCli(&in)
}

func (z *ZooKeeper) runCli(stdin io.Reader, args ...string) (string, error) {
	if _, err := os.Stat(zkCliSh); err != nil {
		return "", fmt.Errorf("zkCli.sh not installed: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, zkCliSh, append([]string{"-server", z.Addr()}, args...)...)
	cmd.Env = append(os.Environ(), "ZOO_LOG_DIR="+filepath.Join(z.dir, "log"), "ZOO_LOG4J_PROP=WARN,CONSOLE",
		"CLIENT_JVMFLAGS=-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	return string(out), err
}
