package engine

import (
	"slices"
	"strings"
)

// Class is what routing needs to know about one statement: a set of flags,
// computed once per distinct statement text (see Cache).
type Class uint32

// Class flags.
const (
	// Read may run on a slave. Set only when nothing else in the statement
	// needs the master: a write is never routed to a slave, so anything the
	// classifier does not positively know to be a plain read lacks Read.
	Read Class = 1 << iota
	// Write changes data, schema or server state; it starts read-your-writes.
	Write
	// Locking is a locking read (FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE).
	Locking
	// SideEffect is a read whose result or effect is tied to the master
	// session: LAST_INSERT_ID(), GET_LOCK(), FOUND_ROWS(), SELECT … INTO.
	SideEffect
	// Begin starts a transaction (BEGIN, START TRANSACTION, XA START).
	Begin
	// EndTx ends one (COMMIT, ROLLBACK).
	EndTx
	// Rollback is ROLLBACK, which works even on a disabled instance.
	Rollback
	// SetSession is a SET of session or user variables, replayed on every
	// backend connection the session takes.
	SetSession
	// Use is USE db.
	Use
	// Pin pins the session to one master connection for good: temporary
	// tables, user locks, LOCK TABLES, SQL-level PREPARE.
	Pin
	// AutocommitOff and AutocommitOn are SETs of autocommit.
	AutocommitOff
	AutocommitOn
	// Hint is the comment /* shardgate:master */ forcing the master.
	Hint
	// Multi holds several statements separated by ';'.
	Multi
	// NextTx is SET TRANSACTION (no SESSION/GLOBAL): it sets the next
	// transaction's characteristics on its connection, so the session keeps
	// that master connection for the next statement.
	NextTx
	// Diagnostics reads the previous statement's warnings or errors (SHOW
	// WARNINGS, SHOW ERRORS, SHOW COUNT(*) …): it must run on the
	// connection that ran that statement.
	Diagnostics
	// LastID reads LAST_INSERT_ID(): the front end first gives the
	// connection the session's own last insert id.
	LastID
	// CalcFoundRows is SQL_CALC_FOUND_ROWS: the connection is kept for a
	// following FOUND_ROWS() (a Diagnostics statement).
	CalcFoundRows
	// Savepoint is SAVEPOINT, RELEASE SAVEPOINT or ROLLBACK TO: the
	// transaction goes on (a cross-node one's branches run it too).
	Savepoint
)

// Refused is the class of a statement classified as a read that a slave's
// read-only session refused: it writes, so it goes to the master.
func (c Class) Refused() Class { return c&^Read | Write }

// MasterOnly reports whether the statement must run on the master whatever
// the session state.
func (c Class) MasterOnly() bool { return c&Read == 0 }

// HintText is the comment text that forces a statement to the master.
const HintText = "shardgate:master"

// Classify computes the class of a statement text (one or several
// statements). It never fails: what it cannot read goes to the master. The
// text is read under every lexing that the session's sql_mode, character
// set or the server version could select (see lexModes); it is a read only
// if every reading says so.
func Classify(sql string) Class {
	var buf [8]lexMode
	modes, doubt := lexModes(sql, buf[:0])
	if doubt {
		return classifyMode(sql, lexMode{version: ^uint32(0)}) &^ Read
	}
	all := classifyMode(sql, modes[0])
	for _, m := range modes[1:] {
		if c := classifyMode(sql, m); c != all {
			all = (all | c) &^ Read
		}
	}
	return all
}

// forcesMaster are the flags that take a statement off the slaves.
const forcesMaster = Hint | Write | Locking | SideEffect | Begin | EndTx | SetSession | Use | Pin | AutocommitOff | AutocommitOn | Multi

func classifyMode(sql string, mode lexMode) Class {
	var all Class
	first := true
	l := lexer{s: sql, mode: mode}
	for {
		c, more := classifyOne(&l)
		if l.hint {
			c |= Hint
		}
		if first {
			all = c
		} else {
			all |= Multi
			// The combination is a read only if every part is.
			r := all & c & Read
			all = (all | c) &^ Read
			all |= r
		}
		first = false
		if !more {
			break
		}
		if l.peekEnd() {
			break
		}
	}
	// Several statements never go to a slave: slave connections do not
	// accept them, so a wrong split fails there instead of writing.
	if all&forcesMaster != 0 || l.doubt {
		all &^= Read
	}
	return all
}

// classifyOne classifies the statement at the lexer and consumes it up to and
// including its ';'. more reports whether a ';' was seen.
func classifyOne(l *lexer) (c Class, more bool) {
	t := l.next()
	for t.kind == tokPunct && t.text == "(" {
		t = l.next()
	}
	if t.kind == tokEnd {
		return 0, false
	}
	if t.kind == tokPunct && t.text == ";" {
		return 0, true
	}
	kw := upper(t)
	switch kw {
	case "SELECT", "WITH", "VALUES", "TABLE", "DESC", "DESCRIBE", "HELP":
		c = Read
	case "SHOW":
		c = Read
		n := l.next()
		switch upper(n) {
		case "WARNINGS", "ERRORS", "COUNT":
			c = SideEffect | Diagnostics
		case "MASTER", "BINLOG", "BINARY", "SLAVE", "REPLICA", "PROFILE", "PROFILES":
			// Session-scoped or master-side information.
			c = SideEffect
		}
		l.push(n)
	case "EXPLAIN":
		c = Read
	case "START":
		n := l.next()
		if upper(n) == "TRANSACTION" {
			c = Begin
		} else {
			c = Write
			l.push(n)
		}
	case "XA":
		c = Begin | Pin
	case "COMMIT":
		c = EndTx
	case "ROLLBACK":
		c = EndTx | Rollback
		n := l.next()
		if upper(n) == "WORK" {
			n = l.next()
		}
		if upper(n) == "TO" {
			c |= Savepoint
		}
		l.push(n)
	case "SAVEPOINT", "RELEASE":
		c = Savepoint // master, inside the transaction
	case "SET":
		c = classifySet(l)
	case "USE":
		c = Use
	case "LOCK":
		c = Write | Pin
	case "PREPARE", "EXECUTE", "DEALLOCATE":
		c = Write | Pin
	case "CREATE", "DROP":
		n := l.next()
		if upper(n) == "TEMPORARY" {
			c = Write | Pin
		} else {
			c = Write
			l.push(n)
			if kw == "CREATE" && l.storedProgram() {
				// The body's semicolons belong to the one statement.
				l.i, l.pushed = len(l.s), l.pushed[:0]
				return c, false
			}
		}
	case "BEGIN":
		n := l.next()
		if upper(n) == "NOT" {
			// MariaDB compound statement: BEGIN NOT ATOMIC … END.
			l.i, l.pushed = len(l.s), l.pushed[:0]
			return Write, false
		}
		l.push(n)
		c = Begin
	case "DO":
		c = SideEffect
	case "CALL", "HANDLER":
		// A procedure may leave temporary tables or variables behind;
		// HANDLER … OPEN is a session's cursor: both keep the connection.
		c = Write | Pin
	default:
		c = Write
	}
	return scanRest(l, c)
}

// classifySet reads the statement after SET.
func classifySet(l *lexer) Class {
	var c Class
	t := l.next()
	switch upper(t) {
	case "ROLE":
		// The role stays with the connection: the session keeps it.
		l.push(t)
		return Write | Pin
	case "GLOBAL", "PASSWORD", "DEFAULT", "STATEMENT", "PERSIST", "PERSIST_ONLY":
		l.push(t)
		return Write
	case "TRANSACTION":
		// Applies to the next transaction of this connection only.
		l.push(t)
		return NextTx
	}
	l.push(t)
	c = SetSession
	for {
		t := l.next()
		if t.kind == tokEnd || t.kind == tokPunct && t.text == ";" {
			l.push(t)
			return c
		}
		if t.kind != tokWord {
			continue
		}
		name := strings.ToUpper(t.text)
		name = strings.TrimPrefix(name, "@@")
		name = strings.TrimPrefix(name, "SESSION.")
		name = strings.TrimPrefix(name, "LOCAL.")
		if name == "GLOBAL" || strings.HasPrefix(name, "GLOBAL.") {
			return Write
		}
		if name != "AUTOCOMMIT" {
			continue
		}
		if eq := l.next(); eq.kind != tokPunct || (eq.text != "=" && eq.text != ":=") {
			l.push(eq)
			continue
		}
		switch strings.ToUpper(l.next().text) {
		case "0", "OFF", "FALSE":
			c |= AutocommitOff
		default:
			c |= AutocommitOn
		}
	}
}

// scanRest reads the rest of one statement for words that take a read off
// the slaves, and consumes its ';'.
func scanRest(l *lexer, c Class) (Class, bool) {
	prev := token{}
	for {
		t := l.next()
		switch t.kind {
		case tokEnd:
			return c, false
		case tokPunct:
			if t.text == ";" {
				return c, true
			}
			if t.text == ":=" {
				// @v := … outside SET: a user variable set on this
				// connection, which the session keeps.
				c |= SideEffect | Pin
			}
			if t.text == "(" && prev.kind == tokWord {
				switch upper(prev) {
				case "LAST_INSERT_ID":
					c |= SideEffect | LastID
				case "FOUND_ROWS", "ROW_COUNT":
					// Answered by the connection that ran the previous
					// statement, when the front end still holds it.
					c |= SideEffect | Diagnostics
				case "CONNECTION_ID":
					c |= SideEffect
				case "GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS", "IS_USED_LOCK", "IS_FREE_LOCK":
					c |= SideEffect | Pin
				case "NEXTVAL", "SETVAL", "LASTVAL":
					c |= Write
				}
			}
		case tokWord:
			switch upper(t) {
			case "UPDATE", "SHARE":
				if upper(prev) == "FOR" {
					c |= Locking
				} else if upper(t) == "UPDATE" {
					c |= Write
				}
			case "LOCK":
				if c&Read != 0 {
					c |= Locking
				}
			case "INTO":
				if c&Read != 0 {
					c |= SideEffect
				}
				if n := l.next(); n.kind == tokWord && strings.HasPrefix(n.text, "@") {
					// SELECT … INTO @v: user variables stay on the
					// connection; the session keeps it.
					c |= SideEffect | Pin
					l.push(n)
				} else {
					l.push(n)
				}
			case "SQL_CALC_FOUND_ROWS":
				c |= CalcFoundRows
			case "DELETE", "INSERT":
				c |= Write
			case "REPLACE":
				// REPLACE( is the string function.
				n := l.next()
				if !(n.kind == tokPunct && n.text == "(") {
					c |= Write
				}
				l.push(n)
			case "VALUE":
				if p := upper(prev); p == "NEXT" || p == "PREVIOUS" {
					c |= Write
				}
			case "TEMPORARY":
				c |= Pin
			}
		}
		prev = t
	}
}

// upper is the keyword a word token spells, in upper case, for comparing
// with the keywords the classifier looks for; a word that is none of them
// in lower or mixed case is "". ASCII only, as MariaDB's keywords are. It
// allocates nothing: statements with new literals are classified on every
// execution (sysbench --db-ps-mode=disable, applications that inline
// values), and strings.ToUpper made a string for every lower-case word.
func upper(t token) string {
	if t.kind != tokWord {
		return ""
	}
	s := t.text
	i := 0
	for i < len(s) && (s[i] < 'a' || s[i] > 'z') {
		i++
	}
	if i == len(s) {
		return s // no lower-case letter: as it is
	}
	if len(s) > maxKeyword {
		return ""
	}
	var b [maxKeyword]byte
	for j := range len(s) {
		c := s[j]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b[j] = c
	}
	return keywords[string(b[:len(s)])] // no allocation for the lookup
}

// maxKeyword is the length of the longest keyword.
const maxKeyword = len("SQL_CALC_FOUND_ROWS")

// keywords holds every keyword the classifier and lexer compare upper's
// result with (TestKeywordsComplete checks the list against their source).
var keywords = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"ALTER", "ANALYZE", "AUTOCOMMIT", "BEGIN", "BINARY", "BINLOG", "CALL", "COMMIT",
		"CONNECTION_ID", "CONSISTENT", "COUNT", "CREATE", "DATABASE", "DEALLOCATE", "DEFAULT",
		"DELETE", "DESC", "DESCRIBE", "DO", "DROP", "ERRORS", "EVENT", "EXECUTE", "EXPLAIN", "FALSE",
		"FLUSH", "FOR", "FOUND_ROWS", "FUNCTION", "GET_LOCK", "GLOBAL", "GRANT", "HANDLER", "HELP",
		"INDEX", "INSERT", "INSTALL", "INTO", "IS_FREE_LOCK", "IS_USED_LOCK", "LASTVAL",
		"LAST_INSERT_ID", "LOCK", "MASTER", "NEXT", "NEXTVAL", "NOT", "OFF", "ONLY", "OPTIMIZE", "OR",
		"PACKAGE", "PASSWORD", "PERSIST", "PERSIST_ONLY", "PREPARE", "PREVIOUS", "PROCEDURE",
		"PROFILE", "PROFILES", "READ", "RELEASE", "RELEASE_ALL_LOCKS", "RELEASE_LOCK", "RENAME",
		"REPAIR", "REPLACE", "REPLICA", "RESET", "REVOKE", "ROLE", "ROLLBACK", "ROW_COUNT",
		"SAVEPOINT", "SCHEMA", "SELECT", "SEQUENCE", "SERVER", "SET", "SETVAL", "SHARE", "SHOW",
		"SLAVE", "SNAPSHOT", "SQL_CALC_FOUND_ROWS", "START", "STATEMENT", "TABLE", "TEMPORARY", "TO",
		"TRANSACTION", "TRIGGER", "TRUNCATE", "UNINSTALL", "UNLOCK", "UPDATE", "USE", "USER", "VALUE",
		"VALUES", "VIEW", "WARNINGS", "WITH", "WORK", "XA",
	} {
		m[k] = k
	}
	return m
}()

// UseTarget returns the database of a USE statement ("" when not one).
func UseTarget(sql string) string {
	l := lexer{s: sql, mode: lexMode{version: ^uint32(0)}}
	if upper(l.next()) != "USE" {
		return ""
	}
	t := l.next()
	switch t.kind {
	case tokWord:
		return t.text
	case tokString:
		if len(t.text) >= 2 && t.text[0] == '`' {
			return strings.ReplaceAll(t.text[1:len(t.text)-1], "``", "`")
		}
	}
	return ""
}

// ImplicitCommit reports whether a statement of class c (text sql) ends an
// open transaction on MariaDB by itself: DDL on permanent objects,
// account statements, LOCK/UNLOCK TABLES, table maintenance, FLUSH and
// RESET (BEGIN and SET autocommit = 1 are told by their class). For front
// ends that cannot read the server's status flags (the driver).
func ImplicitCommit(c Class, sql string) bool {
	if c&Write == 0 || c&Multi != 0 {
		return false
	}
	l := lexer{s: sql, mode: lexMode{version: ^uint32(0)}}
	t := l.next()
	for t.kind == tokPunct && t.text == "(" {
		t = l.next()
	}
	switch upper(t) {
	case "CREATE", "DROP":
		n := upper(l.next())
		if n == "OR" { // CREATE OR REPLACE [TEMPORARY] TABLE
			l.next()
			n = upper(l.next())
		}
		return n != "TEMPORARY"
	case "ALTER", "RENAME", "TRUNCATE", "GRANT", "REVOKE", "LOCK", "UNLOCK",
		"ANALYZE", "OPTIMIZE", "REPAIR", "FLUSH", "RESET", "INSTALL", "UNINSTALL":
		return true
	case "SET":
		return upper(l.next()) == "PASSWORD"
	}
	return false
}

// ReadOnlyBegin reports whether sql is START TRANSACTION with READ ONLY
// among its characteristics (and not READ WRITE): a transaction that may
// run on a slave (props.readOnlyTransactionsOnSlave).
func ReadOnlyBegin(sql string) bool {
	l := lexer{s: sql, mode: lexMode{version: ^uint32(0)}}
	if upper(l.next()) != "START" || upper(l.next()) != "TRANSACTION" {
		return false
	}
	ro := false
	for {
		t := l.next()
		switch {
		case t.kind == tokEnd:
			return ro
		case t.kind == tokPunct && t.text == ",":
		case upper(t) == "READ":
			switch upper(l.next()) {
			case "ONLY":
				ro = true
			default:
				return false // READ WRITE, or not a characteristic
			}
		case upper(t) == "WITH":
			if upper(l.next()) != "CONSISTENT" || upper(l.next()) != "SNAPSHOT" {
				return false
			}
		default:
			return false // a ';' and more, or anything unknown
		}
	}
}

// SavepointName returns the savepoint a Savepoint statement names, and
// which: 'S' SAVEPOINT, 'R' RELEASE SAVEPOINT, 'T' ROLLBACK TO ("" when
// sql is none of them).
func SavepointName(sql string) (op byte, name string) {
	l := lexer{s: sql, mode: lexMode{version: ^uint32(0)}}
	switch upper(l.next()) {
	case "SAVEPOINT":
		op = 'S'
	case "RELEASE":
		op = 'R'
		if upper(l.next()) != "SAVEPOINT" {
			return 0, ""
		}
	case "ROLLBACK":
		op = 'T'
		t := l.next()
		if upper(t) == "WORK" {
			t = l.next()
		}
		if upper(t) != "TO" {
			return 0, ""
		}
		if t = l.next(); upper(t) != "SAVEPOINT" {
			l.push(t)
		}
	default:
		return 0, ""
	}
	t := l.next()
	switch {
	case t.kind == tokWord:
		return op, t.text
	case t.kind == tokString && len(t.text) >= 2 && t.text[0] == '`':
		return op, strings.ReplaceAll(t.text[1:len(t.text)-1], "``", "`")
	}
	return 0, ""
}

// String lists the flags, for logs and tests.
func (c Class) String() string {
	names := []string{"Read", "Write", "Locking", "SideEffect", "Begin", "EndTx", "Rollback", "SetSession", "Use", "Pin", "AutocommitOff", "AutocommitOn", "Hint", "Multi", "NextTx", "Diagnostics", "LastID", "CalcFoundRows", "Savepoint"}
	var parts []string
	for i, n := range names {
		if c&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// AppendReplay appends the SET statement next to a session's replay list,
// dropping earlier statements that next makes pointless: next assigns every
// variable they assign, and neither next nor anything between them reads
// one of those (SET @a = @a + 1 needs the earlier @a). So a session that
// sets the same variables again and again keeps a short list. The list is
// modified in place.
func AppendReplay(list []string, next string) []string {
	nt, nrefs, ok := setTargets(next)
	if !ok {
		return append(list, next)
	}
	keep := make([]bool, len(list))
	var later []string // refs of statements after the one looked at
	later = append(later, nrefs...)
	for i := len(list) - 1; i >= 0; i-- {
		pt, prefs, ok := setTargets(list[i])
		keep[i] = !ok || len(pt) == 0
		for _, v := range pt {
			if !slices.Contains(nt, v) || slices.Contains(later, v) {
				keep[i] = true
			}
		}
		later = append(later, prefs...)
	}
	out := list[:0]
	for i, q := range list {
		if keep[i] {
			out = append(out, q)
		}
	}
	return append(out, next)
}

// setTargets reads SET a = x, @b := y, NAMES z into the names it assigns
// (lower case, without @@ / SESSION. / LOCAL.) and the variable names its
// values mention.
func setTargets(sql string) (targets, refs []string, ok bool) {
	l := lexer{s: sql, mode: lexMode{version: ^uint32(0)}}
	if upper(l.next()) != "SET" {
		return nil, nil, false
	}
	for {
		t := l.next()
		if t.kind != tokWord {
			return nil, nil, false
		}
		name := varName(t.text)
		switch name {
		case "session", "local":
			if t = l.next(); t.kind != tokWord {
				return nil, nil, false
			}
			name = varName(t.text)
		case "global", "transaction", "statement", "password", "role", "default":
			return nil, nil, false
		}
		if name == "names" || name == "character" || name == "charset" {
			// SET NAMES x [COLLATE y] / CHARACTER SET x: up to the comma.
			targets = append(targets, name)
		} else {
			targets = append(targets, name)
			if eq := l.next(); eq.kind != tokPunct || eq.text != "=" && eq.text != ":=" {
				return nil, nil, false
			}
		}
		depth := 0
		for {
			v := l.next()
			switch {
			case v.kind == tokEnd || v.kind == tokPunct && v.text == ";":
				return targets, refs, !l.doubt && (v.kind == tokEnd || l.peekEnd())
			case v.kind == tokPunct && v.text == "(":
				depth++
			case v.kind == tokPunct && v.text == ")":
				depth--
			case v.kind == tokWord:
				refs = append(refs, varName(v.text))
			}
			if v.kind == tokPunct && v.text == "," && depth == 0 {
				break
			}
		}
	}
}

func varName(w string) string {
	w = strings.ToLower(w)
	w = strings.TrimPrefix(w, "@@")
	w = strings.TrimPrefix(w, "session.")
	w = strings.TrimPrefix(w, "local.")
	return w
}
