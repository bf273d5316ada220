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
	"testing"
	"time"
)

// Where Debian's zookeeper package puts the server and its CLI.
const (
	zkJarDir = "/usr/share/java"
	zkCliSh  = "/usr/share/zookeeper/bin/zkCli.sh"
)

// ZooKeeper is a standalone ZooKeeper 3.8 server on a loopback port with its
// data under the test's temp dir.
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
	java := Require(t, "java")
	jar := filepath.Join(zkJarDir, "zookeeper.jar")
	if _, err := os.Stat(jar); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ZooKeeper is not installed (%s missing); .ci/run must install the zookeeper package", jar)
		}
		t.Skipf("ZooKeeper is not installed (%s missing; apt-get install zookeeper)", jar)
	}
	dir := t.TempDir()
	for _, d := range []string{"conf", "data", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	z := &ZooKeeper{t: t, dir: dir, port: FreePort(t)}
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
`, filepath.Join(dir, "data"), z.port)
	if err := os.WriteFile(filepath.Join(dir, "conf", "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(dir, "conf") + ":" + jar + ":" +
		filepath.Join(zkJarDir, "slf4j-log4j12.jar") + ":" + filepath.Join(zkJarDir, "log4j-1.2.jar")
	z.proc = NewProcess(t, filepath.Join(dir, "log", "zookeeper.out"), nil, java,
		"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", cp,
		"-Dzookeeper.log.dir="+filepath.Join(dir, "log"),
		"-Dzookeeper.root.logger=INFO,CONSOLE",
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(dir, "conf", "zoo.cfg"))
	z.Start(t)
	return z
}

// Addr returns the client address, 127.0.0.1:port.
func (z *ZooKeeper) Addr() string { return fmt.Sprintf("127.0.0.1:%d", z.port) }

// Start starts the server again (same port, same data) and waits until it
// serves.
func (z *ZooKeeper) Start(t testing.TB) {
	t.Helper()
	z.proc.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := z.waitReady(ctx); err != nil {
		t.Fatalf("zookeeper on %s not ready: %v\n%s", z.Addr(), err, z.proc.LogTail())
	}
}

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
