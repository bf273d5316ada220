package sharding

import (
	"strconv"
	"strings"

	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// scanFast is scanKey for the texts most statements are: ASCII words,
// numbers, plain quoted strings and backquoted names, operators, no
// comments. It reads the text itself, without the vitess tokenizer's
// per-token buffers, and reports ok false for anything else (comments,
// escapes, double quotes, hex or float literals, variables, bytes ≥ 0x80,
// a rule table named like a keyword), which scanKey then reads with the
// vitess tokenizer. On the texts it takes it gives exactly what that
// reading gives (FuzzRoute checks both agree).
func (rt *Router) scanFast(sql string, normalize bool) (toks []tok, named bool, key string, lits []any, ok bool) {
	var b []byte
	last := 0
	prev := 0 // the previous token, as the vitess tokenizer types it
	const (
		word = -1 - iota
		number
		str
	)
	// btw follows "BETWEEN x AND y": 1 after BETWEEN, 2 after its first
	// operand, 3 after that AND; literal operands are normalized too.
	btw := 0
	for i := 0; i < len(sql); {
		c := sql[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			i++
			continue
		}
		st := btw
		btw = 0
		switch {
		case isLetter(c):
			j := i + 1
			for j < len(sql) && (isLetter(sql[j]) || isDigitByte(sql[j])) {
				j++
			}
			if j < len(sql) && (sql[j] == '\'' || sql[j] == '"' || sql[j] == '$' || sql[j] >= 0x80) {
				return nil, false, "", nil, false // x'..', N'..', _utf8'..', names with $ or non-ASCII
			}
			if name, ok := rt.ruleName(sql[i:j]); ok {
				if rt.keywords[name] {
					return nil, false, "", nil, false
				}
				toks = append(toks, tok{start: i, end: j, name: name})
			}
			switch w := sql[i:j]; {
			case strings.EqualFold(w, "between"):
				btw = 1
			case st == 2 && strings.EqualFold(w, "and"):
				btw = 3
			}
			prev, i = word, j
		case c == '`':
			j := strings.IndexByte(sql[i+1:], '`')
			if j < 0 {
				return nil, false, "", nil, false
			}
			j += i + 1
			if j+1 < len(sql) && sql[j+1] == '`' || j == i+1 {
				return nil, false, "", nil, false // `` inside the name, or an empty name
			}
			inner := sql[i+1 : j]
			for k := 0; k < len(inner); k++ {
				if inner[k] >= 0x80 {
					return nil, false, "", nil, false
				}
			}
			if name, ok := rt.ruleName(inner); ok {
				toks = append(toks, tok{start: i, end: j + 1, name: name})
			}
			prev, i = word, j+1
		case isDigitByte(c):
			j := i + 1
			for j < len(sql) && isDigitByte(sql[j]) {
				j++
			}
			if j < len(sql) && (isLetter(sql[j]) || sql[j] == '.' || sql[j] == '$' || sql[j] == '\'' || sql[j] >= 0x80) {
				return nil, false, "", nil, false // 1e5, 0x1f, 1.5, 123abc
			}
			if st == 1 {
				btw = 2
			}
			if normalize && (comparison(prev) || st == 1 || st == 3) {
				if n, err := strconv.ParseInt(sql[i:j], 10, 64); err == nil {
					if b == nil {
						b = make([]byte, 0, len(sql))
					}
					b = append(append(b, sql[last:i]...), '?')
					last = j
					lits = append(lits, n)
				}
			}
			prev, i = number, j
		case c == '\'':
			j := i + 1
			for j < len(sql) && sql[j] != '\'' {
				if sql[j] == '\\' || sql[j] >= 0x80 {
					return nil, false, "", nil, false
				}
				j++
			}
			if j >= len(sql) || j+1 < len(sql) && sql[j+1] == '\'' {
				return nil, false, "", nil, false // unterminated, or '' inside
			}
			if k := strings.TrimLeft(sql[j+1:], " \t\n\r"); k != "" && (k[0] == '\'' || k[0] == '"') {
				return nil, false, "", nil, false // 'a' 'b' is one string
			}
			if st == 1 {
				btw = 2
			}
			if normalize && (comparison(prev) || st == 1 || st == 3) {
				if b == nil {
					b = make([]byte, 0, len(sql))
				}
				b = append(append(b, sql[last:i]...), '?')
				last = j + 1
				lits = append(lits, sql[i+1:j])
			}
			prev, i = str, j+1
		case c == '=':
			if i+1 < len(sql) && (sql[i+1] == '=' || sql[i+1] == '>') {
				return nil, false, "", nil, false
			}
			prev, i = '=', i+1
		case c == '?':
			if st == 1 {
				btw = 2
			}
			prev, i = '?', i+1 // a parameter: never normalized
		case c == '<':
			switch {
			case strings.HasPrefix(sql[i:], "<=>"):
				prev, i = sqlparser.NULL_SAFE_EQUAL, i+3
			case strings.HasPrefix(sql[i:], "<="):
				prev, i = sqlparser.LE, i+2
			case strings.HasPrefix(sql[i:], "<>"):
				prev, i = sqlparser.NE, i+2
			case strings.HasPrefix(sql[i:], "<<"):
				return nil, false, "", nil, false
			default:
				prev, i = '<', i+1
			}
		case c == '>':
			switch {
			case strings.HasPrefix(sql[i:], ">="):
				prev, i = sqlparser.GE, i+2
			case strings.HasPrefix(sql[i:], ">>"):
				return nil, false, "", nil, false
			default:
				prev, i = '>', i+1
			}
		case c == '!':
			if !strings.HasPrefix(sql[i:], "!=") {
				return nil, false, "", nil, false
			}
			prev, i = sqlparser.NE, i+2
		case c == '-':
			if i+1 < len(sql) && (sql[i+1] == '-' || sql[i+1] == '>') {
				return nil, false, "", nil, false // a comment, or ->
			}
			prev, i = '-', i+1
		case c == '/':
			if i+1 < len(sql) && (sql[i+1] == '*' || sql[i+1] == '/') {
				return nil, false, "", nil, false // comments (vitess reads // as one too)
			}
			prev, i = '/', i+1
		case c == '.':
			if i+1 < len(sql) && isDigitByte(sql[i+1]) {
				return nil, false, "", nil, false // .5
			}
			prev, i = '.', i+1
		case c == ',' || c == '(' || c == ')' || c == '*' || c == '+' || c == '%':
			prev, i = int(c), i+1
		default:
			// ; # " \ @ ? : & | ^ ~ { } [ ] and bytes ≥ 0x80: read by the
			// vitess tokenizer.
			return nil, false, "", nil, false
		}
	}
	if len(toks) == 0 {
		return nil, false, "", nil, true
	}
	if len(lits) == 0 {
		return toks, true, sql, nil, true
	}
	b = append(b, sql[last:]...)
	return toks, true, string(b), lits, true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }

func isDigitByte(c byte) bool { return '0' <= c && c <= '9' }

// ruleName is the lower-case name of the rule table word w names (ok
// false: none). Words are lowered on the stack: keywords in upper case
// cost no allocation.
func (rt *Router) ruleName(w string) (string, bool) {
	var buf [64]byte
	if len(w) > len(buf) {
		n := strings.ToLower(w)
		return n, rt.tables[n] != nil || rt.broadcast[n]
	}
	lower := false
	for i := 0; i < len(w); i++ {
		c := w[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
			lower = true
		}
		buf[i] = c
	}
	if !lower {
		return w, rt.tables[w] != nil || rt.broadcast[w]
	}
	if rt.tables[string(buf[:len(w)])] == nil && !rt.broadcast[string(buf[:len(w)])] {
		return "", false
	}
	return string(buf[:len(w)]), true
}

// keywordNames are the rule tables whose names the vitess tokenizer reads
// as keywords, not identifiers: scanFast leaves texts naming them to it.
func keywordNames(names []string) map[string]bool {
	out := map[string]bool{}
	for _, n := range names {
		tk := sqlparser.NewStringTokenizer(n)
		typ, _ := scanTok(tk)
		if typ != sqlparser.ID {
			out[n] = true
		}
	}
	return out
}
