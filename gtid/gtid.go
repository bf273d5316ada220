// Package gtid reads and compares MariaDB global transaction ids: a GTID
// is domain-server-sequence, and a position holds the last GTID of each
// replication domain. Sequence numbers grow within a domain whatever the
// server, so a replica whose position has, in every domain of a GTID, a
// sequence at least that GTID's has applied it.
package gtid

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// GTID is one MariaDB global transaction id.
type GTID struct {
	Domain, Server uint32
	Seq            uint64
}

// ErrSyntax is matched by the errors of Parse and ParsePos.
var ErrSyntax = errors.New("gtid: malformed")

// Parse reads "domain-server-seq".
func Parse(s string) (GTID, error) {
	d, rest, ok1 := strings.Cut(strings.TrimSpace(s), "-")
	sv, seq, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 {
		return GTID{}, fmt.Errorf("%w: %q is not domain-server-sequence", ErrSyntax, s)
	}
	dn, err1 := strconv.ParseUint(d, 10, 32)
	sn, err2 := strconv.ParseUint(sv, 10, 32)
	qn, err3 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return GTID{}, fmt.Errorf("%w: %q is not domain-server-sequence", ErrSyntax, s)
	}
	return GTID{Domain: uint32(dn), Server: uint32(sn), Seq: qn}, nil
}

func (g GTID) String() string {
	return strconv.FormatUint(uint64(g.Domain), 10) + "-" + strconv.FormatUint(uint64(g.Server), 10) + "-" + strconv.FormatUint(g.Seq, 10)
}

// Pos is a replication position: at most one GTID per domain, in domain
// order. The zero value is the empty position.
type Pos []GTID

// ParsePos reads a comma-separated list of GTIDs (@@gtid_slave_pos,
// @@gtid_binlog_pos); the empty string is the empty position.
func ParsePos(s string) (Pos, error) {
	var p Pos
	for part := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		g, err := Parse(part)
		if err != nil {
			return nil, err
		}
		p = p.With(g)
	}
	return p, nil
}

// Covers reports whether p has applied g.
func (p Pos) Covers(g GTID) bool {
	for _, h := range p {
		if h.Domain == g.Domain {
			return h.Seq >= g.Seq
		}
	}
	return false
}

// CoversAll reports whether p has applied every GTID of q.
func (p Pos) CoversAll(q Pos) bool {
	for _, g := range q {
		if !p.Covers(g) {
			return false
		}
	}
	return true
}

// With is p with g recorded: g replaces its domain's GTID when its
// sequence is higher. p's array is updated in place (or grown): callers
// that share a Pos clone it first.
func (p Pos) With(g GTID) Pos {
	for i := range p {
		switch {
		case p[i].Domain == g.Domain:
			if g.Seq > p[i].Seq {
				p[i] = g
			}
			return p
		case p[i].Domain > g.Domain:
			p = append(p, GTID{})
			copy(p[i+1:], p[i:])
			p[i] = g
			return p
		}
	}
	return append(p, g)
}

// Merge is a new position with the highest GTID of each domain of p and q.
func (p Pos) Merge(q Pos) Pos {
	out := append(Pos(nil), p...)
	for _, g := range q {
		out = out.With(g)
	}
	return out
}

func (p Pos) String() string {
	var b strings.Builder
	for i, g := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(g.String())
	}
	return b.String()
}
