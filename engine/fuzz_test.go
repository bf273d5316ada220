package engine

import (
	"testing"
	"unicode/utf8"
)

// fuzzWrites start texts that write (or must run on the master) whatever
// follows them.
var fuzzWrites = []string{
	"DELETE FROM t", "INSERT INTO t VALUES (1)", "UPDATE t SET a = 1", "REPLACE INTO t VALUES (1)",
	"CALL p()", "LOCK TABLES t WRITE", "DROP TABLE t", "CREATE TABLE t (a INT)", "ALTER TABLE t ADD b INT",
	"SELECT * FROM t FOR UPDATE", "SELECT * FROM t LOCK IN SHARE MODE", "SELECT * FROM t INTO OUTFILE '/tmp/x'",
	"SELECT GET_LOCK('a', 1)", "WITH x AS (SELECT 1) DELETE FROM t", "SELECT 1; DELETE FROM t",
	"/*!40000 DELETE FROM t */", "/*M! DELETE FROM t */", "/* c */ DELETE FROM t", "SET GLOBAL x = 1",
	"LOAD DATA INFILE 'f' INTO TABLE t", "HANDLER t OPEN", "TRUNCATE t", "GRANT ALL ON *.* TO u",
}

// FuzzClassify: a text that starts with a write and a space is never a read, whatever
// follows it, and no input panics or is called a read while also carrying
// a flag that needs the master. The server-side differential check is
// TestClassifyAgreesWithServer.
func FuzzClassify(f *testing.F) {
	for i := range fuzzWrites {
		f.Add(uint8(i), "")
		f.Add(uint8(i), " '")
		f.Add(uint8(i), "-- \n; SELECT 1")
	}
	f.Add(uint8(0), "SELECT 1 --\x01 '\n; DELETE FROM t; -- '")
	f.Add(uint8(0), "SELECT '\x81\\' ; DELETE FROM t; -- '")
	f.Add(uint8(0), "SELECT 1 /*!99999 ' */ ; DELETE FROM t; -- '")
	f.Add(uint8(0), "SELECT a FROM t WHERE id = 12e3 AND b < 0x1f FOR UPDATE")
	f.Add(uint8(0), "select 1a.get_lock(1)")
	rt, err := NewRuntime(testConfig(f, "props: {readYourWrites: off}\n"), fakePools)
	if err != nil {
		f.Fatal(err)
	}
	defer rt.Close()
	snap := rt.Snapshot()
	var recent Recent // kept across inputs: earlier texts fill it
	f.Fuzz(func(t *testing.T, w uint8, rest string) {
		c := Classify(rest)
		if c&Read != 0 && c&forcesMaster != 0 {
			t.Fatalf("Classify(%q) = %s", rest, c)
		}
		// A session's recent texts answer as the classifier does, first
		// time and again.
		for range 2 {
			if got := rt.Cache().ClassifyRecent(&recent, []byte(rest)); got != c {
				t.Fatalf("ClassifyRecent(%q) = %s, want %s", rest, got, c)
			}
		}
		// The cache keys texts by shape: one class for all of a shape.
		if len(rest) <= MaxCachedText {
			var buf [MaxCachedText]byte
			if sh := string(shape([]byte(rest), buf[:0])); Classify(sh) != c {
				t.Fatalf("Classify(%q) = %s, of its shape %q %s", rest, c, sh, Classify(sh))
			}
		}
		text := fuzzWrites[int(w)%len(fuzzWrites)] + " " + rest
		c = Classify(text)
		if c&Read != 0 {
			t.Fatalf("Classify(%q) = %s: a write routed to a slave", text, c)
		}
		// And routing, whatever the session, sends it to the master.
		var units [1]Unit
		p, err := snap.Plan(units[:0], c, &Session{}, nil)
		if err != nil || len(p.Units) != 1 || !p.Units[0].DS.IsMaster() {
			t.Fatalf("Plan(%q) = %v, %v: not the master", text, p.Units, err)
		}
		if utf8.ValidString(rest) {
			_ = UseTarget(rest)
		}
	})
}
