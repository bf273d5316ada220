package proxy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
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
}

var genStatuses = []string{"'new'", "'paid'", "'Paid'", "'done '", "'a'", "'A'", "NULL"}

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
	folded                    // as a multiset, text lower-cased and trimmed: any member of a _ci group may show
	rowCount                  // only how many rows: LIMIT without a total order
)

type genStmt struct {
	sql   string
	write bool
	how   compare
}

func (g *gen) write() genStmt {
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
	w := where(g.pred(0))
	switch g.rng.IntN(14) {
	case 0:
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
		return genStmt{sql: "SELECT status, COUNT(*), MIN(amount) FROM t_order" + w + " GROUP BY status", how: folded}
	case 8:
		return genStmt{sql: "SELECT DISTINCT " + g.pick("user_id", "status", "user_id, status") + " FROM t_order" + w, how: folded}
	case 9:
		return genStmt{sql: "SELECT COUNT(*) AS n, user_id FROM t_order" + w + " GROUP BY user_id" +
			g.pick("", " HAVING n > 1", " HAVING SUM(amount) > 300 OR MIN(order_id) < 20", " HAVING NOT AVG(amount) >= 200", " HAVING MAX(status) = 'paid'") +
			" ORDER BY n DESC, user_id", how: inOrder}
	}
	p := g.pred(0)
	p = strings.NewReplacer("user_id", "o.user_id", "order_id", "o.order_id", "status", "o.status", "amount", "o.amount").Replace(p)
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
				parts[j] = strings.ToLower(strings.TrimRight(parts[j], " "))
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

// A seeded generator runs statements through shardgate and on one unsharded
// MariaDB: every answer agrees (rows, affected rows, errors) unless
// shardgate refuses a statement as not supported (then the reference does
// not run it either), the tables hold the same rows, and every row lies on
// the node its key routes to. SHARDGATE_ORACLE_N sets the number of
// statements (default 5,000), SHARDGATE_ORACLE_SEED the seed (printed).
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
	ctx := t.Context()
	sg, err := e.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sg.Close()
	ref, err := e.oracle.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	g := &gen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), users: map[int]int{}}
	stats := map[string]int{}
	mismatches := 0
	fail := func(i int, st genStmt, format string, a ...any) {
		mismatches++
		t.Errorf("statement %d (seed %d): %s\n%s", i, seed, st.sql, fmt.Sprintf(format, a...))
		if mismatches >= 10 {
			t.FailNow()
		}
	}
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
				e.r.Sync(t)
			}
			i++
			got := run(sg, st)
			if got.err != nil && errCode(got.err) == 1235 {
				stats["refused"]++
				if os.Getenv("SHARDGATE_ORACLE_REFUSED") != "" {
					t.Logf("refused: %s: %v", st.sql, got.err)
				}
				continue // not supported: the reference does not run it
			}
			want := run(ref, st)
			switch {
			case (got.err == nil) != (want.err == nil):
				fail(i, st, "shardgate: %v\nunsharded: %v", got.err, want.err)
			case got.err != nil:
				stats["errors alike"]++
			case st.write && got.affected != want.affected:
				fail(i, st, "affected rows: shardgate %d, unsharded %d", got.affected, want.affected)
			case !st.write && got.key(st.how) != want.key(st.how):
				fail(i, st, "shardgate:\n%s\nunsharded:\n%s", strings.Join(got.rows, "\n"), strings.Join(want.rows, "\n"))
			case st.write:
				stats["writes"]++
			default:
				stats["reads"]++
			}
		}
	}
	t.Logf("%d statements: %v", n, stats)
	e.r.Sync(t)
	for _, q := range []string{"SELECT * FROM t_order ORDER BY order_id", "SELECT * FROM t_order_item ORDER BY item_id"} {
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
	}
}
