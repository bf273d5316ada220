// Package sqlgen generates statement texts that try to hide a write from a
// classifier: quotes, escapes, comments of every kind, executable comments
// and multi-byte characters whose meaning depends on the session's
// sql_mode, character set and the server version. Tests run them on a real
// MariaDB (the reference lexer) and through shardgate.
package sqlgen

import (
	"math/rand/v2"
	"strings"
)

// fragments are the pieces texts are built from; each one changes how the
// server reads what follows under some setting.
var fragments = []string{
	"'", "\"", "`", "\\", "\\'", "''", "\"\"",
	"--", "-- ", "--\x01", "--\x7f", "--\v", "--\xa0", "--x", "#", "\n", "\r",
	"/*", "*/", "/*!", "/*!40000 ", "/*!50700 ", "/*!99999 ", "/*!100000 ", "/*!999999 ", "/*M!", "/*M!100000 ", "/*m!", "/*+ ",
	"\x81", "\xa0", "\xe0", "\x00", "\x81\\", "\x81`",
	" ", ";", "(", ")", "x", "1", "@", "N",
}

// Modes are sql_mode values that change lexing, and Charsets client
// character sets that do.
var (
	Modes    = []string{"", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "NO_BACKSLASH_ESCAPES,ANSI_QUOTES", "ORACLE"}
	Charsets = []string{"utf8mb4", "latin1", "gbk", "sjis", "big5"}
)

// Hiding returns a text that starts as a read and holds payload (a write)
// somewhere, possibly swallowed by a string or comment under some setting.
func Hiding(r *rand.Rand, payload string) string {
	var b strings.Builder
	b.WriteString("SELECT 1 ")
	n := 1 + r.IntN(6)
	at := r.IntN(n + 1)
	for i := 0; i <= n; i++ {
		if i == at {
			b.WriteString("; ")
			b.WriteString(payload)
			b.WriteString("; ")
		}
		if i < n {
			b.WriteString(fragments[r.IntN(len(fragments))])
		}
	}
	return b.String()
}
