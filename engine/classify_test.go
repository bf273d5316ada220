package engine

import (
	"fmt"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want Class
	}{
		{"SELECT 1", Read},
		{"  select c from sbtest1 where id=1", Read},
		{"(SELECT 1) UNION (SELECT 2)", Read},
		{"/* leading */ SELECT 1 -- trailing", Read},
		{"SELECT 'FOR UPDATE', `update`, \"delete\" FROM t", Read},
		{"SELECT REPLACE(name, 'a', 'b') FROM t", Read},
		{"SHOW TABLES", Read},
		{"DESC t", Read},
		{"EXPLAIN SELECT * FROM t", Read},
		{"WITH x AS (SELECT 1) SELECT * FROM x", Read},
		{"SELECT 1;", Read},
		{"SELECT 1; SELECT 2", Multi},
		{"SELECT * FROM t FOR UPDATE", Locking},
		{"SELECT * FROM t LOCK IN SHARE MODE", Locking},
		{"select * from t for share", Locking},
		{"SELECT * FROM t /*!50000 FOR UPDATE */", Locking},
		{"SELECT LAST_INSERT_ID()", SideEffect | LastID},
		{"SELECT FOUND_ROWS()", SideEffect | Diagnostics},
		{"SELECT ROW_COUNT()", SideEffect | Diagnostics},
		{"SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1", Read | CalcFoundRows},
		{"SELECT @v := 1", SideEffect | Pin},
		{"SELECT 1 INTO @v", SideEffect | Pin},
		{"SELECT 1 INTO OUTFILE '/tmp/x'", SideEffect},
		{"HANDLER t OPEN", Write | Pin},
		{"SET ROLE r", Write | Pin},
		{"SELECT GET_LOCK('x', 1)", SideEffect | Pin},
		{"SELECT RELEASE_LOCK('x')", SideEffect | Pin},
		{"SELECT NEXTVAL(s)", Write},
		{"SELECT NEXT VALUE FOR s", Write},
		{"SELECT a INTO @x FROM t", SideEffect | Pin},
		{"SELECT * FROM t INTO OUTFILE '/tmp/x'", SideEffect},
		{"SHOW WARNINGS", SideEffect | Diagnostics},
		{"SHOW COUNT(*) ERRORS", SideEffect | Diagnostics},
		{"SHOW MASTER STATUS", SideEffect},
		{"EXPLAIN UPDATE t SET a=1", Write},
		{"WITH x AS (SELECT 1) UPDATE t SET a=1", Write},
		{"INSERT INTO t VALUES (1)", Write},
		{"insert into t select * from u", Write},
		{"REPLACE INTO t VALUES (1)", Write},
		{"UPDATE t SET a = 1", Write},
		{"DELETE FROM t", Write},
		{"CREATE TABLE t (a INT)", Write},
		{"CREATE TEMPORARY TABLE t (a INT)", Write | Pin},
		{"DROP TEMPORARY TABLE t", Write | Pin},
		{"ALTER TABLE t ADD b INT", Write},
		{"CALL p()", Write | Pin},
		{"LOAD DATA INFILE 'x' INTO TABLE t", Write},
		{"SELECT 1; DELETE FROM t", Write | Multi},
		{"DELETE FROM t; SELECT 1", Write | Multi},
		{"BEGIN", Begin},
		{"START TRANSACTION READ ONLY", Begin},
		{"START SLAVE", Write},
		{"COMMIT", EndTx},
		{"rollback", EndTx | Rollback},
		{"SAVEPOINT a", Savepoint},
		{"RELEASE SAVEPOINT a", Savepoint},
		{"ROLLBACK TO a", EndTx | Rollback | Savepoint},
		{"rollback work to savepoint a", EndTx | Rollback | Savepoint},
		{"ROLLBACK WORK", EndTx | Rollback},
		{"SET autocommit=0", SetSession | AutocommitOff},
		{"SET @@session.autocommit = ON", SetSession | AutocommitOn},
		{"set autocommit:=1", SetSession | AutocommitOn},
		{"SET NAMES utf8mb4", SetSession},
		{"SET @a = 1, sql_mode = ''", SetSession},
		{"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", SetSession},
		{"SET TRANSACTION ISOLATION LEVEL READ COMMITTED", NextTx},
		{"SET GLOBAL read_only = 1", Write},
		{"SET @@global.x = 1", Write},
		{"SET PASSWORD = 'x'", Write},
		{"USE db", Use},
		{"LOCK TABLES t WRITE", Write | Pin},
		{"UNLOCK TABLES", Write},
		{"PREPARE s FROM 'SELECT 1'", Write | Pin},
		{"DO SLEEP(1)", SideEffect},
		{"/* shardgate:master */ SELECT 1", Hint},
		{"SELECT /* Shardgate:Master */ 1", Hint},
		{"SELECT 1 -- shardgate:master", Hint},
		{"", 0},
		{"/* only a comment */", 0},
		{"garbage ' unterminated", Write},
		{"SELECT 'unterminated", Read},
		{"XA START 'x'", Begin | Pin},
		{"CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", Write},
		{"CREATE DEFINER=`root`@`%` FUNCTION f() RETURNS INT BEGIN RETURN 1; END", Write},
		{"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END", Write},
		{"BEGIN NOT ATOMIC SELECT 1; SELECT 2; END", Write},
		{"CREATE TABLE t (a INT); SELECT 1", Write | Multi},
		{"BEGIN WORK", Begin},
	} {
		if got := Classify(tc.sql); got != tc.want {
			t.Errorf("Classify(%q) = %s, want %s", tc.sql, got, tc.want)
		}
	}
}

// Texts that the server splits differently from a naive reading, each
// hiding a DELETE that MariaDB 10.11 runs (checked by hand and by
// TestClassifyAgreesWithServer): none may be a read.
func TestClassifyServerLexing(t *testing.T) {
	for _, sql := range []string{
		"SELECT 1 --\x01 '\n; DELETE FROM t; -- '",       // "--" + control char is a comment
		"SELECT 1 --\x7f '\n; DELETE FROM t; -- '",       // DEL too
		"SELECT 1 --\v '\n; DELETE FROM t; -- '",         // vertical tab too
		"SELECT 1 --\xa0 '\n; DELETE FROM t; -- '",       // latin1: 0xA0 is a space
		"SELECT 'a\\' ; DELETE FROM t; -- '",             // NO_BACKSLASH_ESCAPES
		"SELECT \"a\\\" ; DELETE FROM t; -- \"",          // ANSI_QUOTES
		"SELECT \"a\" ; DELETE FROM t; -- \"",            // ANSI_QUOTES, no backslash
		"SELECT 1 /*!99999 ' */ ; DELETE FROM t; -- '",   // versioned comment skipped
		"SELECT 1 /*!50700 ' */ ; DELETE FROM t; -- '",   // MySQL 5.7 comments skipped by MariaDB
		"SELECT 1 /*M!100000 ' */ ; DELETE FROM t; -- '", // MariaDB comment, newer server
		"SELECT 1 /*m! ' */ ; DELETE FROM t; -- '",       // lower-case m: a plain comment
		"SELECT 1 /*!50000 ' */ ; DELETE FROM t; -- '",   // older server runs it: still a doubt
		"SELECT '\x81\\' ; DELETE FROM t; -- '",          // gbk: 0x81 0x5C is one character
		"SELECT 1 \x81` ; DELETE FROM t; -- `",           // gbk: 0x81 0x60 is one character
		"SELECT `\x81` ; DELETE FROM t; -- `",            // gbk inside an identifier
		"SELECT 1 #\x00\n; DELETE FROM t",                // NUL: doubt
		"SELECT 1 \x00; DELETE FROM t",                   // NUL outside a string
		"SELECT 1 /*!40000 /* x */ ; DELETE FROM t; -- */",
		"SELECT 1; SELECT 2", // several statements never go to a slave
	} {
		if c := Classify(sql); c&Read != 0 {
			t.Errorf("Classify(%q) = %s: a write routed to a slave", sql, c)
		}
	}
	// Readings that stay reads under every mode.
	for _, sql := range []string{
		"SELECT 'it''s' FROM t WHERE a = \"x\"",
		"SELECT `名字` FROM t WHERE b = '中文'",
		"SELECT 1 -- comment",
		"SELECT /*+ hint */ 1",
		"SELECT c FROM t WHERE c LIKE 'a\\_b'",
		"SELECT 1 /*!40000 +1 */",
	} {
		if c := Classify(sql); c != Read {
			t.Errorf("Classify(%q) = %s, want Read", sql, c)
		}
	}
}

// A write must never come out as Read, whatever the input.
func TestClassifyNeverReadsWrites(t *testing.T) {
	writes := []string{"INSERT INTO t VALUES (1)", "UPDATE t SET a=1", "DELETE FROM t", "DROP TABLE t", "SELECT * FROM t FOR UPDATE"}
	prefixes := []string{"", " ", "\n", "/* c */", "# c\n", "-- c\n", "SELECT 1;", "(", "/*!40000 */", "select 1 ; "}
	for _, w := range writes {
		for _, p := range prefixes {
			s := p + w
			if c := Classify(s); c&Read != 0 {
				t.Errorf("Classify(%q) = %s: a write routed to a slave", s, c)
			}
			if c := Classify(strings.ToLower(s)); c&Read != 0 {
				t.Errorf("Classify(%q) = %s: a write routed to a slave", strings.ToLower(s), c)
			}
		}
	}
}

func TestUseTarget(t *testing.T) {
	for in, want := range map[string]string{"USE db1": "db1", "use `my db`": "my db", "USE `a``b`;": "a`b", "SELECT 1": ""} {
		if got := UseTarget(in); got != want {
			t.Errorf("UseTarget(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadOnlyBegin(t *testing.T) {
	for in, want := range map[string]bool{
		"START TRANSACTION READ ONLY": true, "start transaction read only": true, "/* x */ START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY": true,
		"START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT": true,
		"START TRANSACTION": false, "START TRANSACTION READ WRITE": false, "START TRANSACTION READ ONLY, READ WRITE": false,
		"BEGIN": false, "START TRANSACTION READ ONLY; DELETE FROM t": false, "SELECT 1": false,
	} {
		if got := ReadOnlyBegin(in); got != want {
			t.Errorf("ReadOnlyBegin(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestImplicitCommit(t *testing.T) {
	for in, want := range map[string]bool{
		"ALTER TABLE t ADD c INT": true, "create table t (a int)": true, "/* x */ DROP TABLE t": true,
		"CREATE TEMPORARY TABLE t (a int)": false, "DROP TEMPORARY TABLE t": false,
		"CREATE OR REPLACE TABLE t (a int)": true, "CREATE OR REPLACE TEMPORARY TABLE t (a int)": false,
		"TRUNCATE t": true, "LOCK TABLES t WRITE": true, "SET PASSWORD = PASSWORD('x')": true,
		"INSERT INTO t VALUES (1)": false, "UPDATE t SET a = 1": false, "SELECT 1": false,
		"SET @a = 1": false, "ALTER TABLE t ADD c INT; SELECT 1": false, // Multi: not judged
	} {
		if got := ImplicitCommit(Classify(in), in); got != want {
			t.Errorf("ImplicitCommit(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestCache(t *testing.T) {
	c := NewCache(32)
	q := []byte("SELECT c FROM sbtest1 WHERE id=?")
	if c.Classify(q) != Read || c.Len() != 1 || c.Classify(q) != Read {
		t.Fatal("cache")
	}
	for i := 0; i < 1000; i++ {
		c.Classify([]byte(fmt.Sprintf("UPDATE t%d SET a=1", i)))
	}
	if c.Len() > 32 {
		t.Errorf("cache grew to %d", c.Len())
	}
	long := []byte("SELECT '" + strings.Repeat("x", MaxCachedText) + "'")
	if c.Classify(long) != Read || c.Len() > 32 {
		t.Fatal("long text")
	}
	c2 := NewCache(32)
	c2.Classify(long)
	if c2.Len() != 0 {
		t.Errorf("a text over MaxCachedText was cached")
	}
	if n := testing.AllocsPerRun(100, func() { c.Classify(q) }); n != 0 {
		t.Errorf("cached Classify allocates %v", n)
	}
}

// TestCacheRecent: a session's recent texts answer as the shared cache
// does, through more texts than it keeps, and a Demote reaches them.
func TestCacheRecent(t *testing.T) {
	c := NewCache(64)
	var r Recent
	texts := []string{"BEGIN", "COMMIT", "SET autocommit=0", "SET autocommit=1", "SELECT @@version",
		"SELECT c FROM sbtest1 WHERE id=%d", "SELECT c FROM sbtest1 WHERE id BETWEEN %d AND 9",
		"UPDATE sbtest1 SET k=k+1 WHERE id=%d", "DELETE FROM sbtest1 WHERE id=%d",
		"INSERT INTO sbtest1 VALUES (%d, 'x')", "SELECT f(%d)", "SELECT 1 FOR UPDATE"}
	for i := range 500 {
		q := texts[i%len(texts)]
		if strings.Contains(q, "%d") {
			q = fmt.Sprintf(q, i)
		}
		if got, want := c.ClassifyRecent(&r, []byte(q)), Classify(q); got != want {
			t.Fatalf("ClassifyRecent(%q) = %s, want %s", q, got, want)
		}
	}
	f := []byte("SELECT f(7)")
	if c.ClassifyRecent(&r, f)&Read == 0 {
		t.Fatal("SELECT f(7) is not a read")
	}
	c.Demote([]byte("SELECT f(8)")) // the shape's: every id
	if cls := c.ClassifyRecent(&r, f); cls&Read != 0 {
		t.Errorf("after Demote a session's recent text is still a read: %s", cls)
	}
	if n := testing.AllocsPerRun(100, func() { c.ClassifyRecent(&r, f) }); n != 0 {
		t.Errorf("ClassifyRecent of a recent text allocates %v", n)
	}
	other := NewCache(64)
	if cls := other.ClassifyRecent(&r, f); cls&Read == 0 {
		t.Errorf("another cache's demotion leaked through a Recent: %s", cls)
	}
}

// TestCacheShape: texts that differ only in numbers share one entry, which
// holds the class each of them has, and the texts whose class a number or
// a comment can change are cached as they are.
func TestCacheShape(t *testing.T) {
	var buf [MaxCachedText]byte
	for in, want := range map[string]string{
		"SELECT c FROM sbtest1 WHERE id=4021":            "SELECT c FROM sbtest1 WHERE id=0",
		" select c from t1 where id between 5 and 1e5+7": " select c from t1 where id between 0 and 0+0",
		"UPDATE t SET k=k+1 WHERE id=0x1F":               "UPDATE t SET k=k+0 WHERE id=0",
		"INSERT INTO t VALUES (1.5, -2, 3.e4)":           "INSERT INTO t VALUES (0, -0, 0)",
		"DELETE FROM t2 WHERE t2.a1 = 12 AND @v3 = 4":    "DELETE FROM t2 WHERE t2.a1 = 0 AND @v3 = 0",
		"REPLACE INTO t VALUES (9)":                      "REPLACE INTO t VALUES (0)",
		"SET autocommit = 0":                             "SET autocommit = 0", // not shaped: 0 and 1 differ
		"SET autocommit=1":                               "SET autocommit=1",
		"SELECT 1 /*!50000 FOR UPDATE */":                "SELECT 1 /*!50000 FOR UPDATE */",
		"SELECT 1 -- x":                                  "SELECT 1 -- x",
		"SELECT 1 # x":                                   "SELECT 1 # x",
		"SELECT 'a', 1":                                  "SELECT 'a', 1",
		"SELECT `1`, 1":                                  "SELECT `1`, 1",
		"SELECT 1; DELETE FROM t WHERE id = 2":           "SELECT 1; DELETE FROM t WHERE id = 2",
		"SELECT 1\x00":                                   "SELECT 1\x00",
		"SELECT 1\x80":                                   "SELECT 1\x80",
		"SELECTX 1":                                      "SELECTX 1",
		"(SELECT 1)":                                     "(SELECT 1)",
		"CALL p(1)":                                      "CALL p(1)",
	} {
		if got := string(shape([]byte(in), buf[:0])); got != want {
			t.Errorf("shape(%q) = %q, want %q", in, got, want)
		}
		if Classify(in) != Classify(want) {
			t.Errorf("Classify(%q) = %s, of its shape %s", in, Classify(in), Classify(want))
		}
	}

	c := NewCache(32)
	for i := range 100 {
		q := fmt.Sprintf("SELECT c FROM sbtest1 WHERE id=%d", i)
		if c.Classify([]byte(q)) != Read {
			t.Fatalf("Classify(%q) is not a read", q)
		}
	}
	if c.Len() != 1 {
		t.Errorf("100 texts of one shape took %d entries", c.Len())
	}
	// Longer than the small shaping buffer, and an exact repeat.
	long := "SELECT c FROM sbtest1 WHERE k IN (" + strings.Repeat("7, ", 100)
	for i := range 3 {
		q := fmt.Sprintf("%s%d)", long, i)
		for range 2 { // stored, then found
			if c.Classify([]byte(q)) != Read {
				t.Fatalf("Classify(%q…) is not a read", q[:40])
			}
		}
	}
	if c.Len() != 2 {
		t.Errorf("long texts of one shape: %d entries, want 2 in all", c.Len())
	}
	if c.Classify([]byte("SET autocommit=0")) != Classify("SET autocommit=0") ||
		c.Classify([]byte("SET autocommit=1")) != Classify("SET autocommit=1") {
		t.Error("SET autocommit=0 and =1 share an entry")
	}
	// A refused read demotes its shape: the next value goes to the master too.
	c.Demote([]byte("SELECT c FROM sbtest1 WHERE id=7"))
	if got := c.Classify([]byte("SELECT c FROM sbtest1 WHERE id=8")); got&Read != 0 {
		t.Errorf("after Demote, a text of the shape is %s", got)
	}
	q := []byte("SELECT c FROM t WHERE id=1")
	c.Classify(q)
	i := 0
	if n := testing.AllocsPerRun(100, func() {
		i++
		q[len(q)-1] = '0' + byte(i%10) // a new number each run
		c.Classify(q)
	}); n != 0 {
		t.Errorf("Classify of a cached shape allocates %v", n)
	}
}

func TestAppendReplay(t *testing.T) {
	for _, tc := range []struct {
		list []string
		next string
		want []string
	}{
		{[]string{"SET sql_mode = ''"}, "SET sql_mode = 'ANSI'", []string{"SET sql_mode = 'ANSI'"}},
		{[]string{"SET sql_mode = '', NAMES gbk"}, "SET SESSION sql_mode = 'X', NAMES latin1", []string{"SET SESSION sql_mode = 'X', NAMES latin1"}},
		{[]string{"SET @@sql_mode = ''"}, "SET sql_mode = CONCAT(@@sql_mode, ',ANSI')", []string{"SET @@sql_mode = ''", "SET sql_mode = CONCAT(@@sql_mode, ',ANSI')"}},
		{[]string{"SET @a = 1", "SET @b = @a"}, "SET @a = 2", []string{"SET @a = 1", "SET @b = @a", "SET @a = 2"}},
		{[]string{"SET @a = 1", "SET @b = 1"}, "SET @a = 2", []string{"SET @b = 1", "SET @a = 2"}},
		{[]string{"SET @a = 1, @b = 2"}, "SET @a = 3", []string{"SET @a = 1, @b = 2", "SET @a = 3"}},
		{[]string{"SET NAMES utf8mb4"}, "SET NAMES gbk COLLATE gbk_bin", []string{"SET NAMES gbk COLLATE gbk_bin"}},
		{[]string{"SET time_zone = '+00:00'"}, "SET x = 1; SET time_zone = 'a'", []string{"SET time_zone = '+00:00'", "SET x = 1; SET time_zone = 'a'"}},
	} {
		got := AppendReplay(append([]string(nil), tc.list...), tc.next)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("AppendReplay(%q, %q) = %q, want %q", tc.list, tc.next, got, tc.want)
		}
	}
	var list []string
	for i := 0; i < 1000; i++ {
		list = AppendReplay(list, fmt.Sprintf("SET sql_mode = '%d', NAMES gbk", i))
	}
	if len(list) != 1 {
		t.Errorf("1000 SETs of the same variables left %d to replay", len(list))
	}
}

func TestSavepointName(t *testing.T) {
	for _, c := range []struct {
		sql  string
		op   byte
		name string
	}{
		{"SAVEPOINT a", 'S', "a"},
		{"savepoint `x y`", 'S', "x y"},
		{"RELEASE SAVEPOINT b1", 'R', "b1"},
		{"ROLLBACK TO a", 'T', "a"},
		{"rollback work to savepoint `a``b`", 'T', "a`b"},
		{"ROLLBACK", 0, ""},
		{"RELEASE a", 0, ""},
		{"SELECT 1", 0, ""},
	} {
		if op, name := SavepointName(c.sql); op != c.op || name != c.name {
			t.Errorf("SavepointName(%q) = %q %q, want %q %q", c.sql, op, name, c.op, c.name)
		}
	}
}

// TestKeywordsComplete: upper knows every keyword the classifier and the
// lexer compare its result with (a missing one would make that keyword
// unseen in lower case), and reads them in any case.
func TestKeywordsComplete(t *testing.T) {
	fs := gotoken.NewFileSet()
	for _, file := range []string{"classify.go", "lex.go"} {
		f, err := parser.ParseFile(fs, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != gotoken.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !regexp.MustCompile(`^[A-Z][A-Z_]*$`).MatchString(s) {
				return true
			}
			if keywords[s] != s {
				t.Errorf("%s: %q is missing from keywords", fs.Position(lit.Pos()), s)
			}
			return true
		})
	}
	for k := range keywords {
		for _, w := range []string{k, strings.ToLower(k), strings.ToLower(k[:1]) + k[1:]} {
			if got := upper(token{kind: tokWord, text: w}); got != k {
				t.Errorf("upper(%q) = %q, want %q", w, got, k)
			}
		}
	}
	for _, w := range []string{"sbtest1", "c", "ſelect", "selectx", strings.Repeat("a", 40)} {
		if got := upper(token{kind: tokWord, text: w}); got != "" {
			t.Errorf("upper(%q) = %q, want none", w, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { upper(token{kind: tokWord, text: "last_insert_id"}) }); n != 0 {
		t.Errorf("upper: %v allocs", n)
	}
}
