package proxy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// gen draws statements on the sharding test schema (t_order sharded by
// user_id over two groups and by order_id over two tables, t_order_item
// bound to it): reads of every shape the router plans (points, IN, ranges,
// OR, scatter, ORDER BY, LIMIT, aggregates, GROUP BY, DISTINCT, binding
// joins) and writes (multi-row INSERT, UPDATE, DELETE).
type gen struct {
	rng  *rand.Rand
	next int // the next order_id: keys never repeat, as in one table
	// users are the order_ids inserted and their user_id's parity: a key
	// reused with the same parity lands on the same node, where the
	// duplicate is caught as one table would catch it.
	users map[int]int
	// events counts the t_event rows inserted (their ids).
	events int
}

// stamp is a datetime of t_event's range (2024-01-01 to 2024-03-31, the
// INTERVAL strategy's months), as a quoted literal.
func (g *gen) stamp() string {
	t := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(g.rng.Int64N(91*24*3600*1000)) * time.Millisecond)
	if g.rng.IntN(2) == 0 {
		return "'" + t.Format("2006-01-02") + "'"
	}
	return "'" + t.Format("2006-01-02 15:04:05.000") + "'"
}

// event is a statement on t_event (sharded by user and by month).
func (g *gen) event(write bool) genStmt {
	if write {
		switch g.rng.IntN(4) {
		case 0:
			return genStmt{sql: "UPDATE t_event SET v = " + g.pick("'u'", "NULL") + " WHERE created " + g.pick("< ", ">= ") + g.stamp(), write: true}
		case 1:
			return genStmt{sql: "DELETE FROM t_event WHERE created BETWEEN " + g.stamp() + " AND " + g.stamp(), write: true}
		}
		rows := make([]string, 1+g.rng.IntN(4))
		for i := range rows {
			g.events++
			rows[i] = fmt.Sprintf("(%d, %s, %s, %s)", g.events, g.user(), g.stamp(), g.pick("'a'", "'b'", "NULL"))
		}
		return genStmt{sql: "INSERT INTO t_event (id, user_id, created, v) VALUES " + strings.Join(rows, ", "), write: true}
	}
	switch g.rng.IntN(4) {
	case 0:
		return genStmt{sql: "SELECT id, created FROM t_event WHERE created BETWEEN " + g.stamp() + " AND " + g.stamp() + " ORDER BY created, id", how: inOrder}
	case 1:
		return genStmt{sql: "SELECT COUNT(*), MIN(created), MAX(created) FROM t_event WHERE created " + g.pick("< ", "> ", ">= ") + g.stamp(), how: inOrder}
	case 2:
		return genStmt{sql: "SELECT * FROM t_event WHERE user_id = " + g.user() + " AND (created = " + g.stamp() + " OR created < " + g.stamp() + ")"}
	}
	return genStmt{sql: "SELECT v, COUNT(*) FROM t_event WHERE created > " + g.stamp() + " GROUP BY v ORDER BY v", how: inOrder}
}

// genStatuses: under the tables' latin1_swedish_ci, 'paid' = 'Paid',
// 'done ' = 'done', 'e' = 'é' = 'É' (sorted before 'f'), and 'Ä' sorts
// after 'z'.
var genStatuses = []string{"'new'", "'paid'", "'Paid'", "'done '", "'a'", "'A'", "'e'", "'é'", "'É'", "'Ä'", "'z'", "NULL"}

func (g *gen) pick(xs ...string) string { return xs[g.rng.IntN(len(xs))] }
func (g *gen) user() string             { return strconv.Itoa(g.rng.IntN(8)) }
func (g *gen) order() string            { return strconv.Itoa(1 + g.rng.IntN(max(g.next, 2))) }

func (g *gen) amount() string {
	if g.rng.IntN(6) == 0 {
		return "NULL"
	}
	return fmt.Sprintf("%d.%02d", g.rng.IntN(500), g.rng.IntN(100))
}

// pred is a WHERE condition (or none).
func (g *gen) pred(depth int) string {
	switch n := g.rng.IntN(14); {
	case n == 0 && depth == 0:
		return ""
	case n <= 2:
		return "user_id = " + g.user()
	case n == 3:
		return fmt.Sprintf("user_id IN (%s, %s)", g.user(), g.user())
	case n == 4:
		return "order_id = " + g.order()
	case n == 5:
		a := g.rng.IntN(max(g.next, 2))
		return fmt.Sprintf("order_id BETWEEN %d AND %d", a, a+g.rng.IntN(6))
	case n == 6:
		return g.pick("user_id < ", "user_id >= ", "order_id > ", "order_id <= ") + g.user()
	case n == 7:
		return "status = " + g.pick(genStatuses[:6]...)
	case n == 8:
		return g.pick("amount > "+strconv.Itoa(g.rng.IntN(400)), "amount IS NULL", "NOT (user_id = "+g.user()+")", "amount BETWEEN 10 AND 200")
	case n <= 10 && depth < 2:
		return g.pred(depth+1) + " AND " + g.pred(depth+1)
	case n <= 12 && depth < 2:
		return "(" + g.pred(depth+1) + " OR " + g.pred(depth+1) + ")"
	}
	return "user_id = " + g.user() + " AND order_id = " + g.order()
}

func where(p string) string {
	if p == "" {
		return ""
	}
	return " WHERE " + p
}

// compare says how a statement's answers are compared.
type compare int

const (
	asMultiset compare = iota // rows as a multiset
	inOrder                   // rows in order: ORDER BY fixes it
	folded                    // as a multiset, text lower-cased, trimmed, é as e: any member of a _ci group may show
	rowCount                  // only how many rows: LIMIT without a total order
)

type genStmt struct {
	sql   string
	write bool
	how   compare
}

func (g *gen) write() genStmt {
	if g.rng.IntN(6) == 0 {
		return g.event(true)
	}
	switch n := g.rng.IntN(11); {
	case n == 10 && len(g.users) > 0:
		// A duplicate key on its own node: both refuse it (1062).
		id := 1 + g.rng.IntN(g.next)
		if p, ok := g.users[id]; ok {
			return genStmt{sql: fmt.Sprintf("INSERT INTO t_order (order_id, user_id, status) VALUES (%d, %d, 'dup')", id, p+2*g.rng.IntN(3)), write: true}
		}
		return genStmt{sql: "SELECT nosuch FROM t_order" + where(g.pred(0))}
	case n <= 5:
		rows := make([]string, 1+g.rng.IntN(5))
		for i := range rows {
			g.next++
			u := g.rng.IntN(8)
			g.users[g.next] = u % 2
			rows[i] = fmt.Sprintf("(%d, %d, %s, %s)", g.next, u, g.pick(genStatuses...), g.amount())
		}
		return genStmt{sql: "INSERT INTO t_order (order_id, user_id, status, amount) VALUES " + strings.Join(rows, ", "), write: true}
	case n <= 6 && g.rng.IntN(4) == 0:
		// Items copied from orders, node by node. A unique key holds
		// per actual table only, so item ids may repeat only with their
		// order (and node): 10^9 + order_id*1000 + a tag of 0..9.
		return genStmt{sql: fmt.Sprintf("INSERT INTO t_order_item (item_id, order_id, user_id, qty) SELECT 1000000000 + order_id * 1000 + %d, order_id, user_id, %d FROM t_order%s%s",
			g.rng.IntN(10), g.rng.IntN(9), where(g.pred(0)), g.pick("", " ON DUPLICATE KEY UPDATE qty = qty + 1")), write: true}
	case n <= 6:
		g.next++
		return genStmt{sql: fmt.Sprintf("INSERT INTO t_order_item (item_id, order_id, user_id, qty) VALUES (%d, %s, %s, %d)",
			g.next, g.order(), g.user(), g.rng.IntN(9)), write: true}
	case n <= 8:
		set := g.pick("status = "+g.pick(genStatuses...), "amount = amount + 1", "amount = NULL", "status = 'upd', amount = 1.5")
		if g.rng.IntN(5) == 0 { // a key change: allowed only when the row stays on its node
			set = "user_id = " + g.user()
		}
		return genStmt{sql: "UPDATE t_order SET " + set + where(g.pred(0)), write: true}
	}
	p := g.pred(0)
	if p == "" {
		p = "order_id = " + g.order()
	}
	return genStmt{sql: "DELETE FROM t_order WHERE " + p, write: true}
}

func (g *gen) read() genStmt {
	if g.rng.IntN(8) == 0 {
		return g.event(false)
	}
	w := where(g.pred(0))
	switch g.rng.IntN(14) {
	case 0:
		if g.rng.IntN(2) == 0 {
			// Keys of * found by name, their weights after *'s columns.
			if g.rng.IntN(2) == 0 {
				return genStmt{sql: "SELECT *, status AS s FROM t_order" + w + " ORDER BY s " + g.pick("ASC", "DESC") + ", order_id", how: inOrder}
			}
			return genStmt{sql: "SELECT * FROM t_order" + w + " ORDER BY " + g.pick("status", "amount DESC") + ", order_id", how: inOrder}
		}
		return genStmt{sql: "SELECT * FROM t_order" + w}
	case 12:
		// 'Paid' and 'paid' are one value under the collation.
		return genStmt{sql: "SELECT COUNT(DISTINCT status), COUNT(*), SUM(amount) FROM t_order" + w, how: inOrder}
	case 13:
		return genStmt{sql: "SELECT user_id, COUNT(DISTINCT " + g.pick("status", "amount") + ") AS d, SUM(DISTINCT amount), MAX(order_id) FROM t_order" + w +
			" GROUP BY user_id ORDER BY d DESC, user_id" + g.pick("", " LIMIT 2"), how: inOrder}
	case 11:
		// Text order under the collation: 'Paid' = 'paid', 'done ' = 'done'; order_id breaks ties.
		return genStmt{sql: "SELECT status, order_id FROM t_order" + w + " ORDER BY status " + g.pick("ASC", "DESC") + ", order_id" +
			g.pick("", " LIMIT 5", " LIMIT 2, 3"), how: inOrder}
	case 1:
		return genStmt{sql: "SELECT order_id, status, amount FROM t_order" + w + " ORDER BY order_id " + g.pick("ASC", "DESC") +
			g.pick("", fmt.Sprintf(" LIMIT %d", g.rng.IntN(8)), fmt.Sprintf(" LIMIT %d, %d", g.rng.IntN(5), g.rng.IntN(8))), how: inOrder}
	case 2:
		return genStmt{sql: "SELECT order_id, amount FROM t_order" + w + " ORDER BY amount " + g.pick("ASC", "DESC") + ", order_id", how: inOrder}
	case 3:
		return genStmt{sql: "SELECT user_id FROM t_order" + w + fmt.Sprintf(" LIMIT %d", g.rng.IntN(6)), how: rowCount}
	case 4:
		return genStmt{sql: "SELECT COUNT(*), SUM(amount), MIN(order_id), MAX(amount), AVG(amount), COUNT(amount) FROM t_order" + w, how: inOrder}
	case 5:
		return genStmt{sql: "SELECT MIN(status), MAX(status) FROM t_order" + w, how: folded}
	case 6:
		return genStmt{sql: "SELECT user_id, COUNT(*), SUM(amount), AVG(amount), MAX(order_id) FROM t_order" + w + " GROUP BY user_id ORDER BY user_id" +
			g.pick("", " LIMIT 3", " LIMIT 1, 2"), how: inOrder}
	case 7:
		// HAVING on the key compares under its collation ('e' = 'é').
		return genStmt{sql: "SELECT status, COUNT(*), MIN(amount) FROM t_order" + w + " GROUP BY status" +
			g.pick("", " HAVING status = 'e'", " HAVING status >= 'e' AND COUNT(*) > 1", " HAVING status <> 'paid'", " HAVING status < 'f'"), how: folded}
	case 8:
		return genStmt{sql: "SELECT DISTINCT " + g.pick("user_id", "status", "user_id, status") + " FROM t_order" + w, how: folded}
	case 9:
		return genStmt{sql: "SELECT COUNT(*) AS n, user_id FROM t_order" + w + " GROUP BY user_id" +
			g.pick("", " HAVING n > 1", " HAVING SUM(amount) > 300 OR MIN(order_id) < 20", " HAVING NOT AVG(amount) >= 200", " HAVING MAX(status) = 'paid'") +
			" ORDER BY n DESC, user_id", how: inOrder}
	}
	p := g.pred(0)
	p = strings.NewReplacer("user_id", "o.user_id", "order_id", "o.order_id", "status", "o.status", "amount", "o.amount").Replace(p)
	if g.rng.IntN(2) == 0 {
		// A subquery correlated on both sharding columns: every node.
		sub := "SELECT " + g.pick("1", "i.qty") + " FROM t_order_item i WHERE i.order_id = o.order_id AND i.user_id = o.user_id" + g.pick("", " AND i.qty > 3")
		if g.rng.IntN(2) == 0 {
			return genStmt{sql: "SELECT o.order_id, (SELECT SUM(i.qty) FROM t_order_item i WHERE i.user_id = o.user_id AND i.order_id = o.order_id) AS q FROM t_order o" + where(p) + " ORDER BY o.order_id", how: inOrder}
		}
		return genStmt{sql: "SELECT o.order_id, o.status FROM t_order o WHERE " + g.pick("", "NOT ") + "EXISTS (" + sub + ")" + strings.Replace(where(p), " WHERE ", " AND ", 1)}
	}
	return genStmt{sql: "SELECT o.order_id, i.item_id, i.qty FROM t_order o JOIN t_order_item i ON o.order_id = i.order_id AND o.user_id = i.user_id" + where(p)}
}

// answer is a statement's outcome, comparable across servers.
type answer struct {
	rows     []string
	affected int64
	err      error
}

func run(db *sql.Conn, st genStmt) answer {
	ctx := context.Background()
	if st.write {
		res, err := db.ExecContext(ctx, st.sql)
		if err != nil {
			return answer{err: err}
		}
		n, _ := res.RowsAffected()
		return answer{affected: n}
	}
	rows, err := db.QueryContext(ctx, st.sql)
	if err != nil {
		return answer{err: err}
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return answer{err: err}
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				parts[i] = "NULL"
			} else {
				parts[i] = string(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	return answer{rows: out, err: rows.Err()}
}

// key is an answer's comparable form under how.
func (a answer) key(how compare) string {
	rows := append([]string(nil), a.rows...)
	switch how {
	case rowCount:
		return strconv.Itoa(len(rows))
	case folded:
		for i, r := range rows {
			parts := strings.Split(r, "|")
			for j := range parts {
				parts[j] = strings.ReplaceAll(strings.ToLower(strings.TrimRight(parts[j], " ")), "é", "e")
			}
			rows[i] = strings.Join(parts, "|")
		}
		fallthrough
	case asMultiset:
		sort.Strings(rows)
	}
	return strings.Join(rows, "\n")
}

func errCode(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// oracle runs statements through shardgate (sg) and on one unsharded
// MariaDB database (ref) and compares their answers.
type oracle struct {
	t       *testing.T
	e       *shardEnv
	sg, ref *sql.Conn
	// fault, when set, changes shardgate's answers (to test the shrinker).
	fault func(genStmt, *answer)
}

// check runs st on both: "" when the answers agree, else what differs.
// refused: shardgate refused it as not supported (the reference does not
// run it); outcome names what agreed, for the statistics.
func (o *oracle) check(st genStmt) (mismatch, outcome string) {
	got := run(o.sg, st)
	if o.fault != nil {
		o.fault(st, &got)
	}
	if got.err != nil && errCode(got.err) == 1235 {
		if os.Getenv("SHARDGATE_ORACLE_REFUSED") != "" {
			o.t.Logf("refused: %s: %v", st.sql, got.err)
		}
		return "", "refused"
	}
	want := run(o.ref, st)
	switch {
	case (got.err == nil) != (want.err == nil):
		return fmt.Sprintf("shardgate: %v\nunsharded: %v", got.err, want.err), ""
	case got.err != nil:
		return "", "errors alike"
	case st.write && got.affected != want.affected:
		return fmt.Sprintf("affected rows: shardgate %d, unsharded %d", got.affected, want.affected), ""
	case !st.write && got.key(st.how) != want.key(st.how):
		return fmt.Sprintf("shardgate:\n%s\nunsharded:\n%s", strings.Join(got.rows, "\n"), strings.Join(want.rows, "\n")), ""
	case st.write:
		return "", "writes"
	}
	return "", "reads"
}

// reset empties the tables on both sides (and ends any transaction).
func (o *oracle) reset() {
	for _, q := range []string{"ROLLBACK", "TRUNCATE TABLE t_order", "TRUNCATE TABLE t_order_item", "TRUNCATE TABLE t_event"} {
		for _, c := range []*sql.Conn{o.sg, o.ref} {
			if _, err := c.ExecContext(o.t.Context(), q); err != nil {
				o.t.Fatalf("oracle reset: %s: %v", q, err)
			}
		}
	}
}

// replay runs stmts from empty tables, the slaves caught up before each
// read, and returns the index of the first statement whose answers differ
// (-1: none) with what differs.
func (o *oracle) replay(stmts []genStmt) (int, string) {
	o.reset()
	for i, st := range stmts {
		if !st.write {
			o.e.r.Sync(o.t)
		}
		if m, _ := o.check(st); m != "" {
			return i, m
		}
	}
	return -1, ""
}

// shrink cuts the writes before a failing statement down to a few that
// still make it fail (delta debugging: drop chunks of halving size while
// the failure persists), within maxReplays replays.
func (o *oracle) shrink(before []genStmt, failing genStmt) []genStmt {
	const maxReplays = 400
	var cur []genStmt
	for _, st := range before {
		if st.write { // reads change nothing
			cur = append(cur, st)
		}
	}
	fails := func(prefix []genStmt) bool {
		i, _ := o.replay(append(slices.Clip(prefix), failing))
		return i == len(prefix)
	}
	if !fails(cur) {
		o.t.Logf("shrink: the failure does not replay from empty tables; keeping %d statements", len(before)+1)
		return append(slices.Clone(before), failing)
	}
	replays := 1
	for chunk := max(len(cur)/2, 1); chunk >= 1 && replays < maxReplays; chunk /= 2 {
		for start := 0; start < len(cur) && replays < maxReplays; {
			cand := append(slices.Clone(cur[:start]), cur[min(start+chunk, len(cur)):]...)
			replays++
			if fails(cand) {
				cur = cand
			} else {
				start += chunk
			}
		}
		if chunk == 1 {
			break
		}
	}
	return append(cur, failing)
}

// saveCase writes a shrunk failure as a case file (see readCase) under
// dir and returns its path.
func saveCase(dir, name string, stmts []genStmt, note string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", note)
	for _, st := range stmts {
		kind := "read"
		if st.write {
			kind = "write"
		}
		fmt.Fprintf(&b, "%s\t%d\t%s\n", kind, st.how, st.sql)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// readCase reads a case file: "# note" lines, then one statement per
// line: write|read, the comparison (compare), the SQL, tab-separated.
func readCase(path string) ([]genStmt, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []genStmt
	for n, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, "\t", 3)
		how, err := strconv.Atoi(f[min(1, len(f)-1)])
		if len(f) != 3 || (f[0] != "write" && f[0] != "read") || err != nil {
			return nil, fmt.Errorf("%s:%d: want write|read<TAB>compare<TAB>SQL", path, n+1)
		}
		out = append(out, genStmt{sql: f[2], write: f[0] == "write", how: compare(how)})
	}
	return out, nil
}

// oracleCases is where shrunk failures are kept, to be replayed by
// TestShardingOracleCases.
const oracleCases = "testdata/oracle"

// A seeded generator runs statements through shardgate and on one unsharded
// MariaDB: every answer agrees (rows, affected rows, errors) unless
// shardgate refuses a statement as not supported (then the reference does
// not run it either), the tables hold the same rows, and every row lies on
// the node its key routes to. SHARDGATE_ORACLE_N sets the number of
// statements (default 5,000), SHARDGATE_ORACLE_SEED the seed (printed). The
// first failure is shrunk and kept under testdata/oracle.
func TestShardingOracle(t *testing.T) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("SHARDGATE_ORACLE_N")); err == nil && v > 0 {
		n = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("SHARDGATE_ORACLE_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (SHARDGATE_ORACLE_SEED=%d to repeat), %d statements", seed, seed, n)
	e := startShards(t)
	o := openOracle(t, e)
	if path, fails := o.generate(seed, n, oracleCases, 10); fails > 0 {
		t.Errorf("%d mismatches; the first, shrunk, is in %s: commit it, TestShardingOracleCases replays it", fails, path)
		return
	}
	e.r.Sync(t)
	for _, q := range []string{"SELECT * FROM t_order ORDER BY order_id", "SELECT * FROM t_order_item ORDER BY item_id", "SELECT * FROM t_event ORDER BY id"} {
		e.same(t, q, true)
	}
	// Every physical row lies where its key routes.
	for db := range 2 {
		for tb := range 2 {
			var bad int
			q := fmt.Sprintf("SELECT COUNT(*) FROM sh%d.t_order_%d WHERE user_id %% 2 <> %d OR order_id %% 2 <> %d", db, tb, db, tb)
			if err := e.oracle.QueryRow(q).Scan(&bad); err != nil || bad != 0 {
				t.Errorf("%s: %d rows on the wrong node (%v)", q, bad, err)
			}
		}
		for _, m := range []string{"202401", "202402", "202403"} {
			var bad int
			q := fmt.Sprintf("SELECT COUNT(*) FROM sh%d.t_event_%s WHERE user_id %% 2 <> %d OR DATE_FORMAT(created, '%%Y%%m') <> '%s'", db, m, db, m)
			if err := e.oracle.QueryRow(q).Scan(&bad); err != nil || bad != 0 {
				t.Errorf("%s: %d rows on the wrong node (%v)", q, bad, err)
			}
		}
	}
}

func openOracle(t *testing.T, e *shardEnv) *oracle {
	ctx := t.Context()
	sg, err := e.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sg.Close() })
	ref, err := e.oracle.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.Close() })
	return &oracle{t: t, e: e, sg: sg, ref: ref}
}

// generate runs n generated statements from seed, reporting mismatches
// (at most maxFails, then it stops); the first is shrunk and saved under
// dir. It returns the saved case's path and the number of mismatches.
func (o *oracle) generate(seed uint64, n int, dir string, maxFails int) (string, int) {
	t := o.t
	g := &gen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), users: map[int]int{}}
	stats := map[string]int{}
	var hist []genStmt
	fails := 0
	path := ""
	for i := 0; i < n; {
		// A block: writes, the slaves catch up, reads (on the slaves).
		var block []genStmt
		tx := g.rng.IntN(4) == 0 // the writes in a transaction, which commits or rolls back
		if tx {
			block = append(block, genStmt{sql: "BEGIN", write: true})
		}
		for range g.rng.IntN(6) {
			block = append(block, g.write())
		}
		if tx {
			for range g.rng.IntN(3) {
				block = append(block, g.read()) // its own writes, on every node
			}
			end := "COMMIT"
			if g.rng.IntN(3) == 0 {
				end = "ROLLBACK"
			}
			block = append(block, genStmt{sql: end, write: true})
			stats["transactions"]++
		}
		k := len(block)
		for range 4 + g.rng.IntN(16) {
			block = append(block, g.read())
		}
		for j, st := range block {
			if j == k {
				o.e.r.Sync(t)
			}
			i++
			m, outcome := o.check(st)
			stats[outcome]++
			if m == "" {
				hist = append(hist, st)
				continue
			}
			fails++
			t.Logf("statement %d (seed %d): %s\n%s", i, seed, st.sql, m)
			if fails == 1 {
				shrunk := o.shrink(hist, st)
				var err error
				path, err = saveCase(dir, fmt.Sprintf("seed-%d-stmt-%d.case", seed, i), shrunk, fmt.Sprintf("seed %d, statement %d, shrunk from %d statements", seed, i, len(hist)+1))
				if err != nil {
					t.Fatal(err)
				}
				for _, st := range shrunk {
					t.Logf("  shrunk: %s", st.sql)
				}
			}
			if fails >= maxFails {
				return path, fails
			}
			// Later statements run on the state this one left.
			hist = append(hist, st)
		}
	}
	t.Logf("%d statements: %v", n, stats)
	return path, fails
}

// The shrinker cuts a failure to the statements it needs: with a fault
// injected (shardgate's answer loses its rows when a row of order_id 5 is
// among them), a generated run fails, and its case holds the INSERT of
// that row and the failing read, a handful of statements, which replay to
// the same failure with the fault and agree without it.
func TestShardingOracleShrinks(t *testing.T) {
	e := startShards(t)
	o := openOracle(t, e)
	o.fault = func(st genStmt, a *answer) {
		for _, r := range a.rows {
			if strings.HasPrefix(r, "5|") {
				a.rows = nil
				return
			}
		}
	}
	path, fails := o.generate(11, 2000, t.TempDir(), 1)
	if fails != 1 || path == "" {
		t.Fatalf("the injected fault was not found: %d mismatches", fails)
	}
	stmts, err := readCase(path)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	t.Logf("%s:\n%s", path, data)
	if len(stmts) > 4 || stmts[len(stmts)-1].write {
		t.Errorf("shrunk to %d statements (want the INSERT of order 5 and the read, at most 4)", len(stmts))
	}
	if i, _ := o.replay(stmts); i != len(stmts)-1 {
		t.Errorf("the case replays to a failure at statement %d, want %d", i, len(stmts)-1)
	}
	o.fault = nil
	if i, m := o.replay(stmts); i != -1 {
		t.Errorf("without the fault the case fails at %d: %s", i, m)
	}
}

// Every kept case (testdata/oracle/*.case, shrunk failures of the oracle)
// replays with shardgate and one MariaDB agreeing on every statement.
func TestShardingOracleCases(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(oracleCases, "*.case"))
	if len(files) == 0 {
		t.Skip("no kept oracle cases in " + oracleCases)
	}
	e := startShards(t)
	o := openOracle(t, e)
	for _, f := range files {
		stmts, err := readCase(f)
		if err != nil {
			t.Fatal(err)
		}
		if i, m := o.replay(stmts); i >= 0 {
			t.Errorf("%s: statement %d: %s\n%s", f, i+1, stmts[i].sql, m)
		}
	}
}
