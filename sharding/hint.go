package sharding

import (
	"strconv"
	"strings"
)

// Hint strategies route by values the client gives in a comment, in
// ShardingSphere's form:
//
//	/* SHARDINGSPHERE_HINT: t_order.SHARDING_DATABASE_VALUE=1, t_order.SHARDING_TABLE_VALUE=3 */
//
// A key without a table (SHARDING_DATABASE_VALUE=1) holds for every table.
// The strategy's algorithmExpression reads the value as ${value}.
const hintMarker = "SHARDINGSPHERE_HINT:"

// hintColumn is the pseudo column a hint strategy's value goes under (no
// SQL column is spelled with a space at its start).
func hintColumn(database bool) string {
	if database {
		return " hint database"
	}
	return " hint table"
}

// parseHints reads the hint comments of sql: keys "table.database",
// "table.table" (table lower case, "" for every table). Integers are
// int64, anything else text (quotes removed).
func parseHints(sql string) map[string]any {
	var out map[string]any
	for rest := sql; ; {
		i := strings.Index(rest, "/*")
		if i < 0 {
			return out
		}
		end := strings.Index(rest[i+2:], "*/")
		if end < 0 {
			return out
		}
		body := strings.TrimSpace(rest[i+2 : i+2+end])
		rest = rest[i+2+end+2:]
		if len(body) < len(hintMarker) || !strings.EqualFold(body[:len(hintMarker)], hintMarker) {
			continue
		}
		for _, kv := range strings.Split(body[len(hintMarker):], ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
			table := ""
			if dot := strings.LastIndexByte(k, '.'); dot >= 0 {
				table, k = strings.Trim(k[:dot], "`"), k[dot+1:]
			}
			var what string
			switch k {
			case "sharding_database_value":
				what = "database"
			case "sharding_table_value":
				what = "table"
			default:
				continue
			}
			if out == nil {
				out = map[string]any{}
			}
			out[table+"."+what] = hintValue(v)
		}
	}
}

func hintValue(v string) any {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n
	}
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	return v
}

// hint is the value the statement's hints give t's strategy st (false:
// none, or st is not a hint strategy).
func (p *planner) hint(t *Table, st *strategy) (any, bool) {
	if st.kind != "hint" || p.hints == nil {
		return nil, false
	}
	what := "table"
	if st == t.db {
		what = "database"
	}
	if v, ok := p.hints[strings.ToLower(t.Name)+"."+what]; ok {
		return v, true
	}
	v, ok := p.hints["."+what]
	return v, ok
}

// hintNodes is the nodes of t its hint strategies allow (every node where
// t has none, or the statement gives no hint).
func (p *planner) hintNodes(t *Table) nodes {
	eq := map[string][]any{}
	for _, st := range [2]*strategy{t.db, t.tb} {
		if v, ok := p.hint(t, st); ok {
			eq[st.cols[0]] = []any{v}
		}
	}
	if len(eq) == 0 {
		return allNodes(len(t.Nodes))
	}
	return p.byValues(t, eq, nil)
}
