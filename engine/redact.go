package engine

import "bytes"

// Redact is sql as logs show it (props.sqlShow): in a statement that may
// carry a password (IDENTIFIED BY, PASSWORD(), SET PASSWORD, CHANGE MASTER
// … MASTER_PASSWORD) every quoted string is replaced by '***'. Other
// statements are returned unchanged.
func Redact(sql []byte) string {
	if !bytes.Contains(bytes.ToUpper(sql), []byte("IDENTIFIED")) && !bytes.Contains(bytes.ToUpper(sql), []byte("PASSWORD")) {
		return string(sql)
	}
	out := make([]byte, 0, len(sql))
	for i := 0; i < len(sql); i++ {
		q := sql[i]
		if q != '\'' && q != '"' {
			out = append(out, q)
			continue
		}
		// Skip to the closing quote: backslash escapes, doubled quotes.
		j := i + 1
		for ; j < len(sql); j++ {
			if sql[j] == '\\' {
				j++
				continue
			}
			if sql[j] == q {
				if j+1 < len(sql) && sql[j+1] == q {
					j++
					continue
				}
				break
			}
		}
		out = append(out, q, '*', '*', '*', q)
		i = j
	}
	return string(out)
}
