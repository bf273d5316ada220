package proxy

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/config"
	"github.com/shardgate/shardgate/engine"
)

// fuzzConfig has a password-less user (so a fuzzed login can succeed
// whatever the salt) and backends nobody listens on.
const fuzzConfig = `
users: [{name: nopw, allowEmptyPassword: true}, {name: app, password: secret}]
dataSources:
  m: {url: "127.0.0.1:1", username: root, connectTimeout: 20ms, healthCheckInterval: 1s}
  s: {url: "127.0.0.1:1", username: root, connectTimeout: 20ms, healthCheckInterval: 1s}
masterSlaveRule: {masterDataSourceName: m, slaveDataSourceNames: [s]}
props: {maxAllowedPacket: 65536, handshakeTimeout: 1s}
`

func packet(seq byte, payload ...byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

// loginNoPassword is a handshake response for user nopw.
func loginNoPassword() []byte {
	caps := uint32(wire.ClientProtocol41 | wire.ClientSecureConnection | wire.ClientPluginAuth | wire.ClientMultiStatements)
	b := binary.LittleEndian.AppendUint32(nil, caps)
	b = binary.LittleEndian.AppendUint32(b, 1<<24)
	b = append(b, 45)
	b = append(b, make([]byte, 23)...)
	b = append(b, "nopw"...)
	b = append(b, 0, 0) // user, empty auth
	b = append(b, "mysql_native_password"...)
	return packet(1, append(b, 0)...)
}

// FuzzSession feeds a byte stream to a session as its client: the
// handshake response and any commands after it. No input may panic the
// session or keep it from ending once the client hangs up.
func FuzzSession(f *testing.F) {
	login := loginNoPassword()
	id := []byte{1, 0, 0, 0}
	for _, cmds := range [][]byte{
		nil,
		packet(0, wire.ComQuery, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1'),
		packet(0, append([]byte{wire.ComStmtPrepare}, "SELECT ?"...)...),
		packet(0, append(append([]byte{wire.ComStmtExecute}, id...), 0, 1, 0, 0, 0, 0, 1, 3, 0, 1, 0, 0, 0)...),
		packet(0, append(append([]byte{wire.ComStmtSendLongData}, id...), 0, 0, 'x')...),
		packet(0, append([]byte{wire.ComStmtClose}, id...)...),
		packet(0, append([]byte{wire.ComStmtReset}, id...)...),
		packet(0, wire.ComSetOption, 1, 0),
		packet(0, append([]byte{wire.ComFieldList}, "t\x00"...)...),
		packet(0, append([]byte{wire.ComChangeUser}, "nopw\x00\x00db\x00\x2d\x00mysql_native_password\x00"...)...),
		packet(0, append([]byte{wire.ComInitDB}, "db"...)...),
		packet(0, wire.ComPing),
		packet(0, wire.ComStatistics),
		packet(0, wire.ComResetConnection),
		packet(0, 0x99),
		{0xff, 0xff, 0xff, 0, 3},
	} {
		f.Add(append(append([]byte(nil), login...), cmds...))
	}
	f.Add([]byte{0x20, 0, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg, err := config.Parse([]byte(fuzzConfig))
		if err != nil {
			t.Fatal(err)
		}
		rt, err := engine.NewRuntime(cfg, OpenPool)
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close()
		srv, err := New(rt)
		if err != nil {
			t.Fatal(err)
		}
		client, server := net.Pipe()
		s := newSession(srv, server)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.serve()
			s.close()
		}()
		// The client: read whatever comes back, send the input, hang up.
		go io.Copy(io.Discard, client)
		client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		client.Write(in)
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("session still running 5 s after its client hung up (input %q)", in)
		}
	})
}
