package engine

import (
	"slices"
	"strings"
)

// How the server splits a statement text into tokens depends on settings
// the classifier cannot know for sure: the session's sql_mode
// (NO_BACKSLASH_ESCAPES, ANSI_QUOTES), the client character set (in gbk,
// sjis/cp932 and big5 the second byte of a character can be '\' or '`'),
// and the server version (which /*!NNNNN … */ comments run as code).
// Tracking them per session is fragile (a global default, SET sql_mode =
// CONCAT(…), a stored procedure can change them), so Classify instead reads
// a text once under every combination that could split it differently and
// calls it a read only when every reading is one. A text that uses none of
// the bytes those settings act on ('\', '"', bytes ≥ 0x80, versioned
// comments) is read once.
//
// The rules below follow MariaDB's lexer (sql/sql_lex.cc) and were checked
// against MariaDB 10.11; where the server's reading cannot be decided
// (a "--" followed by a byte ≥ 0x80, a NUL outside a string) the lexer sets
// doubt and the statement goes to the master.

// charset is a family of client character sets that lex alike.
type charset uint8

const (
	// bytewise: utf8, latin1 and every charset whose multi-byte characters
	// use only bytes ≥ 0x80 (ujis, euckr, gb2312 …).
	bytewise charset = iota
	gbk
	sjis // also cp932
	big5
)

// mbLen is the length of the multi-byte character at s[i] (2), or 0 when
// s[i] does not start one, after MariaDB's ctype-gbk.c, ctype-sjis.c and
// ctype-big5.c head/tail ranges.
func (cs charset) mbLen(s string, i int) int {
	if cs == bytewise || i+1 >= len(s) {
		return 0
	}
	h, t := s[i], s[i+1]
	var ok bool
	switch cs {
	case gbk:
		ok = 0x81 <= h && h <= 0xfe && (0x40 <= t && t <= 0x7e || 0x80 <= t && t <= 0xfe)
	case sjis:
		ok = (0x81 <= h && h <= 0x9f || 0xe0 <= h && h <= 0xfc) && (0x40 <= t && t <= 0x7e || 0x80 <= t && t <= 0xfc)
	case big5:
		ok = 0xa1 <= h && h <= 0xf9 && (0x40 <= t && t <= 0x7e || 0xa1 <= t && t <= 0xfe)
	}
	if ok {
		return 2
	}
	return 0
}

// lexMode is one reading of a text.
type lexMode struct {
	noBackslash bool // NO_BACKSLASH_ESCAPES: '\' is an ordinary byte in strings
	ansiQuotes  bool // ANSI_QUOTES: "…" quotes an identifier, not a string
	cs          charset
	version     uint32 // /*!NNNNN and /*M!NNNNN comments with NNNNN ≤ version run as code
}

// maxVersions bounds the distinct comment versions read both ways; a text
// with more is sent to the master.
const maxVersions = 4

// lexModes returns the readings of s to classify, and doubt when there are
// too many to try.
func lexModes(s string, dst []lexMode) ([]lexMode, bool) {
	backslash := strings.IndexByte(s, '\\') >= 0
	dquote := strings.IndexByte(s, '"') >= 0
	high := false
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			high = true
			break
		}
	}
	var versions [maxVersions]uint32
	nv := 0
	for i := 0; ; {
		j := strings.Index(s[i:], "/*")
		if j < 0 {
			break
		}
		i += j + 2
		k := i
		if k < len(s) && s[k] == 'M' {
			k++
		}
		if k >= len(s) || s[k] != '!' {
			continue
		}
		v, n := commentVersion(s, k+1)
		if n == 0 || slices.Contains(versions[:nv], v) {
			continue
		}
		if nv == maxVersions {
			return dst, true
		}
		versions[nv] = v
		nv++
	}
	// Versions: none run (0), or those up to each one seen run.
	vs := append(versions[:nv:nv], 0)
	if nv == 0 {
		vs = []uint32{^uint32(0)}
	}
	for _, nb := range bools(backslash) {
		for _, aq := range bools(dquote) {
			for cs := bytewise; cs <= big5; cs++ {
				if cs != bytewise && !high {
					break
				}
				for _, v := range vs {
					dst = append(dst, lexMode{noBackslash: nb, ansiQuotes: aq, cs: cs, version: v})
				}
			}
		}
	}
	return dst, false
}

func bools(both bool) []bool {
	if both {
		return []bool{false, true}
	}
	return []bool{false}
}

// commentVersion reads the version after "/*!" or "/*M!" at s[i]: exactly
// five digits, or six when a sixth follows (the server reads no more). n is
// the digits' length, 0 when there is no version.
func commentVersion(s string, i int) (v uint32, n int) {
	for n < 6 && i+n < len(s) && isDigit(s[i+n]) {
		v = v*10 + uint32(s[i+n]-'0')
		n++
	}
	if n < 5 {
		return 0, 0
	}
	return v, n
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

type tokKind uint8

const (
	tokEnd tokKind = iota
	tokWord
	tokString
	tokPunct
)

type token struct {
	kind tokKind
	text string
}

// lexer splits SQL into words, strings and punctuation under one lexMode,
// skipping comments (noting the master hint) and reading executable
// comments as code when the server would.
type lexer struct {
	s    string
	i    int
	mode lexMode
	hint bool
	// doubt: the server's reading of the text cannot be told; route it to
	// the master.
	doubt bool
	// inExec: inside an executable comment that runs as code; its "*/" ends it.
	inExec bool
	pushed []token
}

func (l *lexer) push(t token) { l.pushed = append(l.pushed, t) }

func (l *lexer) next() token {
	if n := len(l.pushed); n > 0 {
		t := l.pushed[n-1]
		l.pushed = l.pushed[:n-1]
		return t
	}
	s := l.s
	for l.i < len(s) {
		ch := s[l.i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v':
			l.i++
		case ch == 0:
			// The server ends the text's reading here with a syntax error.
			l.doubt = true
			l.i++
		case ch == '/' && l.i+1 < len(s) && s[l.i+1] == '*':
			l.comment()
		case ch == '*' && l.inExec && l.i+1 < len(s) && s[l.i+1] == '/':
			l.i += 2 // end of an executable comment
			l.inExec = false
		case ch == '#':
			l.lineComment()
		case ch == '-' && l.i+1 < len(s) && s[l.i+1] == '-' && l.dashComment():
			l.lineComment()
		case ch == '\'' || ch == '"' && !l.mode.ansiQuotes:
			return token{kind: tokString, text: l.quoted(ch, !l.mode.noBackslash, false)}
		case ch == '`' || ch == '"':
			return token{kind: tokString, text: l.quoted(ch, false, true)}
		case isWord(ch):
			start := l.i
			if l.mode.cs == bytewise {
				for l.i < len(s) && isWord(s[l.i]) {
					l.i++
				}
				return token{kind: tokWord, text: s[start:l.i]}
			}
			for l.i < len(s) {
				if n := l.mode.cs.mbLen(s, l.i); n > 0 {
					l.i += n
				} else if isWord(s[l.i]) {
					l.i++
				} else {
					break
				}
			}
			return token{kind: tokWord, text: s[start:l.i]}
		case ch == ':' && l.i+1 < len(s) && s[l.i+1] == '=':
			l.i += 2
			return token{kind: tokPunct, text: ":="}
		default:
			l.i++
			return token{kind: tokPunct, text: s[l.i-1 : l.i]}
		}
	}
	return token{kind: tokEnd}
}

// dashComment tells whether the "--" at l.i starts a comment: the server
// wants a space or control character after it (or the end of the text).
func (l *lexer) dashComment() bool {
	if l.i+2 >= len(l.s) {
		return true
	}
	switch c := l.s[l.i+2]; {
	case c <= ' ' || c == 0x7f:
		return true
	case c >= 0x80:
		// A space in some 8-bit charsets (latin1 0xA0), not in others.
		l.doubt = true
		return true
	}
	return false
}

// lineComment skips a # or -- comment up to the end of the line.
func (l *lexer) lineComment() {
	s := l.s
	end := strings.IndexByte(s[l.i:], '\n')
	if end < 0 {
		end = len(s) - l.i
	}
	body := s[l.i : l.i+end]
	if strings.IndexByte(body, 0) >= 0 {
		l.doubt = true // the server stops the comment at a NUL
	}
	l.noteComment(body)
	l.i += end
}

// comment handles the "/*" at l.i.
func (l *lexer) comment() {
	s := l.s
	k := l.i + 2
	maria := k < len(s) && s[k] == 'M' && k+1 < len(s) && s[k+1] == '!'
	if maria || k < len(s) && s[k] == '!' {
		if l.inExec {
			// The server rejects an executable comment inside another.
			l.doubt = true
		}
		if maria {
			k++
		}
		k++ // past '!'
		v, n := commentVersion(s, k)
		if n == 0 || v <= l.mode.version && (v < 50700 || v > 99999 || maria) {
			l.i, l.inExec = k+n, true
			return
		}
		// A version this server skips: a comment that may hold one
		// regular comment.
		l.i = k + n
		l.skipComment(1)
		return
	}
	l.i += 2
	l.skipComment(0)
}

// skipComment skips a comment body up to and including its "*/", allowing
// nested comments when nest > 0 (the server's consume_comment).
func (l *lexer) skipComment(nest int) {
	s := l.s
	start := l.i
	for l.i < len(s) {
		c := s[l.i]
		l.i++
		if nest > 0 && c == '/' && l.i < len(s) && s[l.i] == '*' {
			l.i++
			l.skipComment(nest - 1)
			continue
		}
		if c == '*' && l.i < len(s) && s[l.i] == '/' {
			l.i++
			l.noteComment(s[start : l.i-2])
			return
		}
	}
	l.noteComment(s[start:])
}

// quoted reads a string or (ident) a quoted identifier starting at l.i
// with quote q.
func (l *lexer) quoted(q byte, escapes, ident bool) string {
	s := l.s
	start := l.i
	l.i++
	for l.i < len(s) {
		if n := l.mode.cs.mbLen(s, l.i); n > 0 {
			l.i += n
			continue
		}
		c := s[l.i]
		if c == '\\' && escapes {
			l.i += 2
			continue
		}
		if c == 0 && ident {
			l.doubt = true // the server's identifier reader stops at a NUL
		}
		if c == q {
			if l.i+1 < len(s) && s[l.i+1] == q {
				l.i += 2
				continue
			}
			l.i++
			return s[start:l.i]
		}
		l.i++
	}
	l.i = len(s)
	return s[start:]
}

func (l *lexer) noteComment(body string) {
	if len(body) >= len(HintText) && strings.Contains(strings.ToLower(body), HintText) {
		l.hint = true
	}
}

func isWord(b byte) bool {
	return b == '_' || b == '$' || b == '@' || b == '.' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= 0x80
}

// storedProgram looks ahead (without consuming) for CREATE [OR REPLACE]
// [DEFINER = …] [AGGREGATE] PROCEDURE | FUNCTION | TRIGGER | EVENT | PACKAGE.
func (l *lexer) storedProgram() bool {
	save, saved, exec := l.i, append([]token(nil), l.pushed...), l.inExec
	defer func() { l.i, l.pushed, l.inExec = save, saved, exec }()
	for i := 0; i < 12; i++ {
		t := l.next()
		switch upper(t) {
		case "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "PACKAGE":
			return true
		case "TABLE", "VIEW", "INDEX", "DATABASE", "SCHEMA", "USER", "SEQUENCE", "ROLE", "SERVER":
			return false
		}
		if t.kind == tokEnd || t.kind == tokPunct && t.text == ";" {
			return false
		}
	}
	return false
}

func (l *lexer) peekEnd() bool {
	t := l.next()
	l.push(t)
	return t.kind == tokEnd
}
