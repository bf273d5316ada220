// Package inline evaluates ShardingSphere's inline expressions, the two
// kinds its users write in sharding rules:
//
//   - data nodes, expanded into a list: "ds_${0..1}.t_order_${0..3}" is
//     ds_0.t_order_0 … ds_1.t_order_3 (several ${} multiply out, left to
//     right; ${[a, b]} is a list; $->{…} is the same as ${…}; top-level
//     commas separate expressions);
//   - sharding algorithms, evaluated per row: "t_order_${order_id % 4}"
//     with order_id = 7 is t_order_3.
//
// ShardingSphere evaluates both as Groovy. This package implements the
// part sharding rules use, with integer arithmetic (+ - * / %, unary -,
// parentheses) on integer column values and concatenation of the pieces;
// anything else is an error naming what is unsupported, never a guess.
// "/" divides integers (Groovy's gives a decimal) and "%" keeps the sign
// of the dividend, as Java's and Go's do.
package inline

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxExpansion bounds how many names one data-node expression may expand
// to, so that a typo such as ${0..99999999} is an error, not an OOM.
const MaxExpansion = 100000

// ErrSyntax is matched by errors.Is for every malformed expression.
var ErrSyntax = errors.New("inline expression")

func syntaxErr(expr, format string, a ...any) error {
	return fmt.Errorf("%w %q: %s", ErrSyntax, expr, fmt.Sprintf(format, a...))
}

// piece is a literal text or the body of one ${…}.
type piece struct {
	lit  string
	body string
	expr bool
}

// split cuts an expression into literal pieces and ${…} / $->{…} bodies.
func split(s string) ([]piece, error) {
	var out []piece
	for len(s) > 0 {
		i := strings.Index(s, "$")
		open := -1
		skip := 0
		for i >= 0 {
			if strings.HasPrefix(s[i:], "${") {
				open, skip = i, 2
				break
			}
			if strings.HasPrefix(s[i:], "$->{") {
				open, skip = i, 4
				break
			}
			j := strings.Index(s[i+1:], "$")
			if j < 0 {
				break
			}
			i += 1 + j
		}
		if open < 0 {
			out = append(out, piece{lit: s})
			break
		}
		if open > 0 {
			out = append(out, piece{lit: s[:open]})
		}
		depth, end := 1, -1
		for k := open + skip; k < len(s); k++ {
			switch s[k] {
			case '{':
				depth++
			case '}':
				depth--
			}
			if depth == 0 {
				end = k
				break
			}
		}
		if end < 0 {
			return nil, fmt.Errorf("unclosed ${")
		}
		out = append(out, piece{body: strings.TrimSpace(s[open+skip : end]), expr: true})
		s = s[end+1:]
	}
	return out, nil
}

// splitTop splits on commas outside ${…} and [...].
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{', '[', '(':
			depth++
		case '}', ']', ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// Expand expands a data-node expression into its names, in order.
func Expand(expr string) ([]string, error) {
	var all []string
	for _, part := range splitTop(expr) {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, syntaxErr(expr, "empty item")
		}
		pieces, err := split(part)
		if err != nil {
			return nil, syntaxErr(expr, "%v", err)
		}
		names := []string{""}
		for _, p := range pieces {
			vals := []string{p.lit}
			if p.expr {
				if vals, err = values(p.body); err != nil {
					return nil, syntaxErr(expr, "%v", err)
				}
			}
			if len(names)*len(vals) > MaxExpansion {
				return nil, syntaxErr(expr, "expands to more than %d names", MaxExpansion)
			}
			next := make([]string, 0, len(names)*len(vals))
			for _, n := range names {
				for _, v := range vals {
					next = append(next, n+v)
				}
			}
			names = next
		}
		all = append(all, names...)
		if len(all) > MaxExpansion {
			return nil, syntaxErr(expr, "expands to more than %d names", MaxExpansion)
		}
	}
	return all, nil
}

// values are the items of a ${…} body in a data-node expression: a range
// a..b or a list [x, 'y', "z"].
func values(body string) ([]string, error) {
	if lo, hi, ok := strings.Cut(body, ".."); ok {
		a, err1 := strconv.ParseInt(strings.TrimSpace(lo), 10, 64)
		b, err2 := strconv.ParseInt(strings.TrimSpace(hi), 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("range %q: want integer..integer", body)
		}
		if b < a {
			return nil, fmt.Errorf("range %q: the end is below the start", body)
		}
		if b-a >= MaxExpansion {
			return nil, fmt.Errorf("range %q holds more than %d values", body, MaxExpansion)
		}
		out := make([]string, 0, b-a+1)
		for i := a; i <= b; i++ {
			out = append(out, strconv.FormatInt(i, 10))
		}
		return out, nil
	}
	if strings.HasPrefix(body, "[") && strings.HasSuffix(body, "]") {
		var out []string
		for _, item := range splitTop(body[1 : len(body)-1]) {
			item = strings.TrimSpace(item)
			if n := len(item); n >= 2 && (item[0] == '\'' && item[n-1] == '\'' || item[0] == '"' && item[n-1] == '"') {
				item = item[1 : n-1]
			} else if _, err := strconv.ParseInt(item, 10, 64); err != nil {
				return nil, fmt.Errorf("list item %q: want a number or a quoted string", item)
			}
			out = append(out, item)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("empty list")
		}
		return out, nil
	}
	return nil, fmt.Errorf("%q: a data-node expression takes a range a..b or a list [...]", body)
}

// Algorithm is a compiled sharding algorithm expression.
type Algorithm struct {
	src    string
	pieces []algPiece
	cols   []string
}

type algPiece struct {
	lit string
	e   node // nil for a literal
}

// Compile compiles an algorithm expression such as t_order_${order_id % 4}.
func Compile(expr string) (*Algorithm, error) {
	pieces, err := split(expr)
	if err != nil {
		return nil, syntaxErr(expr, "%v", err)
	}
	a := &Algorithm{src: expr}
	seen := map[string]bool{}
	for _, p := range pieces {
		if !p.expr {
			a.pieces = append(a.pieces, algPiece{lit: p.lit})
			continue
		}
		ps := &parser{src: p.body}
		n, err := ps.parse()
		if err != nil {
			return nil, syntaxErr(expr, "%v", err)
		}
		for _, c := range ps.cols {
			if !seen[c] {
				seen[c] = true
				a.cols = append(a.cols, c)
			}
		}
		a.pieces = append(a.pieces, algPiece{e: n})
	}
	if len(a.cols) == 0 {
		return nil, syntaxErr(expr, "names no sharding column")
	}
	return a, nil
}

// Columns are the columns the expression reads, in order of appearance.
func (a *Algorithm) Columns() []string { return a.cols }

// String is the source expression.
func (a *Algorithm) String() string { return a.src }

// Eval evaluates the expression with the columns' values (int64, or string
// for a piece that is only a column name).
func (a *Algorithm) Eval(vals map[string]any) (string, error) {
	var b strings.Builder
	for _, p := range a.pieces {
		if p.e == nil {
			b.WriteString(p.lit)
			continue
		}
		if id, ok := p.e.(ident); ok {
			switch v := vals[string(id)].(type) {
			case string:
				b.WriteString(v)
				continue
			case nil:
				return "", fmt.Errorf("%s: no value for sharding column %s", a.src, id)
			}
		}
		v, err := p.e.eval(vals)
		if err != nil {
			return "", fmt.Errorf("%s: %w", a.src, err)
		}
		b.WriteString(strconv.FormatInt(v, 10))
	}
	return b.String(), nil
}

// node is an integer expression.
type node interface {
	eval(vals map[string]any) (int64, error)
}

type num int64

func (n num) eval(map[string]any) (int64, error) { return int64(n), nil }

type ident string

func (id ident) eval(vals map[string]any) (int64, error) {
	switch v := vals[string(id)].(type) {
	case int64:
		return v, nil
	case int:
		return int64(v), nil
	case nil:
		return 0, fmt.Errorf("no value for sharding column %s", id)
	default:
		return 0, fmt.Errorf("sharding column %s: arithmetic needs an integer, got %T", id, v)
	}
}

type neg struct{ x node }

func (n neg) eval(vals map[string]any) (int64, error) {
	v, err := n.x.eval(vals)
	return -v, err
}

type binop struct {
	op   byte
	l, r node
}

func (b binop) eval(vals map[string]any) (int64, error) {
	l, err := b.l.eval(vals)
	if err != nil {
		return 0, err
	}
	r, err := b.r.eval(vals)
	if err != nil {
		return 0, err
	}
	switch b.op {
	case '+':
		return l + r, nil
	case '-':
		return l - r, nil
	case '*':
		return l * r, nil
	case '/', '%':
		if r == 0 {
			return 0, errors.New("division by zero")
		}
		if b.op == '/' {
			return l / r, nil
		}
		return l % r, nil
	}
	return 0, fmt.Errorf("unknown operator %q", b.op)
}

// parser is a recursive-descent parser of + - * / % ( ) integers and
// identifiers.
type parser struct {
	src  string
	pos  int
	cols []string
}

func (p *parser) parse() (node, error) {
	n, err := p.sum()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("%q: unsupported at %q (integer arithmetic + - * / %% on columns only)", p.src, p.src[p.pos:])
	}
	return n, nil
}

func (p *parser) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

func (p *parser) sum() (node, error) {
	l, err := p.product()
	if err != nil {
		return nil, err
	}
	for {
		p.space()
		if p.pos >= len(p.src) || (p.src[p.pos] != '+' && p.src[p.pos] != '-') {
			return l, nil
		}
		op := p.src[p.pos]
		p.pos++
		r, err := p.product()
		if err != nil {
			return nil, err
		}
		l = binop{op, l, r}
	}
}

func (p *parser) product() (node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		p.space()
		if p.pos >= len(p.src) || (p.src[p.pos] != '*' && p.src[p.pos] != '/' && p.src[p.pos] != '%') {
			return l, nil
		}
		op := p.src[p.pos]
		p.pos++
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = binop{op, l, r}
	}
}

func (p *parser) unary() (node, error) {
	p.space()
	if p.pos < len(p.src) && p.src[p.pos] == '-' {
		p.pos++
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return neg{x}, nil
	}
	return p.atom()
}

func (p *parser) atom() (node, error) {
	p.space()
	if p.pos >= len(p.src) {
		return nil, fmt.Errorf("%q: expression ends early", p.src)
	}
	c := p.src[p.pos]
	switch {
	case c == '(':
		p.pos++
		n, err := p.sum()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.src) || p.src[p.pos] != ')' {
			return nil, fmt.Errorf("%q: missing )", p.src)
		}
		p.pos++
		return n, nil
	case c >= '0' && c <= '9':
		start := p.pos
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		v, err := strconv.ParseInt(p.src[start:p.pos], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q: number %s out of range", p.src, p.src[start:p.pos])
		}
		return num(v), nil
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		start := p.pos
		for p.pos < len(p.src) {
			c := p.src[p.pos]
			if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
				p.pos++
				continue
			}
			break
		}
		name := p.src[start:p.pos]
		if p.pos < len(p.src) && (p.src[p.pos] == '.' || p.src[p.pos] == '(') {
			return nil, fmt.Errorf("%q: method calls (%s…) are not supported", p.src, name)
		}
		p.cols = append(p.cols, name)
		return ident(name), nil
	}
	return nil, fmt.Errorf("%q: unsupported at %q", p.src, p.src[p.pos:])
}
