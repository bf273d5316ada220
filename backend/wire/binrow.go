package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// BinaryColumn is what encoding a value in the binary protocol needs of
// its column: the type and whether it is unsigned.
type BinaryColumn struct {
	Type     byte
	Unsigned bool
}

// ColumnOf reads the type and unsigned flag of a column definition packet.
func ColumnOf(def []byte) (BinaryColumn, bool) {
	r := def
	for range 6 { // catalog, schema, table, org_table, name, org_name
		l, rest, ok := ReadLenenc(r)
		if !ok || uint64(len(rest)) < l {
			return BinaryColumn{}, false
		}
		r = rest[l:]
	}
	// fixed fields: length (0x0c), charset(2), column length(4), type, flags(2), decimals
	if len(r) < 10 {
		return BinaryColumn{}, false
	}
	flags := binary.LittleEndian.Uint16(r[8:])
	return BinaryColumn{Type: r[7], Unsigned: flags&0x20 != 0}, true
}

// AppendBinaryRow encodes a binary-protocol row (the answer to
// COM_STMT_EXECUTE) from text-protocol values, as the server would have
// sent the same values: header 0x00, the NULL bitmap (offset 2), then each
// non-NULL value in its type's binary form. A value that does not read as
// its column's type is an error naming the column.
func AppendBinaryRow(b []byte, cols []BinaryColumn, vals [][]byte) ([]byte, error) {
	if len(vals) != len(cols) {
		return b, fmt.Errorf("shardgate: a built row has %d values for %d columns", len(vals), len(cols))
	}
	b = append(b, 0)
	at := len(b)
	for range (len(cols) + 7 + 2) / 8 {
		b = append(b, 0)
	}
	for i, v := range vals {
		if v == nil {
			pos := i + 2
			b[at+pos/8] |= 1 << (pos % 8)
			continue
		}
		var err error
		if b, err = appendBinaryValue(b, cols[i], v); err != nil {
			return b, fmt.Errorf("shardgate: column %d: value %q: %w", i+1, truncate(v), err)
		}
	}
	return b, nil
}

func truncate(v []byte) []byte {
	if len(v) > 40 {
		return v[:40]
	}
	return v
}

func appendBinaryValue(b []byte, c BinaryColumn, v []byte) ([]byte, error) {
	s := string(v)
	switch c.Type {
	case 0x01, 0x02, 0x0d, 0x03, 0x09, 0x08: // TINY, SHORT, YEAR, LONG, INT24, LONGLONG
		var u uint64
		if c.Unsigned {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return b, err
			}
			u = n
		} else {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return b, err
			}
			u = uint64(n)
		}
		switch c.Type {
		case 0x01:
			return append(b, byte(u)), nil
		case 0x02, 0x0d:
			return binary.LittleEndian.AppendUint16(b, uint16(u)), nil
		case 0x03, 0x09:
			return binary.LittleEndian.AppendUint32(b, uint32(u)), nil
		}
		return binary.LittleEndian.AppendUint64(b, u), nil
	case 0x04: // FLOAT
		f, err := strconv.ParseFloat(s, 32)
		if err != nil {
			return b, err
		}
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(f))), nil
	case 0x05: // DOUBLE
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return b, err
		}
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(f)), nil
	case 0x07, 0x0a, 0x0c: // TIMESTAMP, DATE, DATETIME
		return appendBinaryDatetime(b, s)
	case 0x0b: // TIME
		return appendBinaryTime(b, s)
	}
	// DECIMAL, strings, blobs, ENUM, SET, BIT, JSON, GEOMETRY: as in text.
	b = AppendLenenc(b, uint64(len(v)))
	return append(b, v...), nil
}

var errTemporal = fmt.Errorf("not a date or time the server prints")

// digits reads n decimal digits at s[i:].
func digits(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[i : i+n]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// micros reads an optional ".ffffff" (1–6 digits) at s[i:] as microseconds.
func micros(s string, i int) (int, bool) {
	if i >= len(s) {
		return 0, i == len(s)
	}
	if s[i] != '.' || len(s)-i-1 < 1 || len(s)-i-1 > 6 {
		return 0, false
	}
	us, ok := digits(s, i+1, len(s)-i-1)
	for range 6 - (len(s) - i - 1) {
		us *= 10
	}
	return us, ok
}

// appendBinaryDatetime encodes "YYYY-MM-DD[ hh:mm:ss[.ffffff]]" in the
// shortest of the protocol's forms (0, 4, 7 or 11 bytes).
func appendBinaryDatetime(b []byte, s string) ([]byte, error) {
	y, ok1 := digits(s, 0, 4)
	mo, ok2 := digits(s, 5, 2)
	d, ok3 := digits(s, 8, 2)
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' {
		return b, errTemporal
	}
	var h, mi, sec, us int
	if len(s) > 10 {
		var ok4, ok5, ok6, ok7 bool
		h, ok4 = digits(s, 11, 2)
		mi, ok5 = digits(s, 14, 2)
		sec, ok6 = digits(s, 17, 2)
		us, ok7 = micros(s, 19)
		if !ok4 || !ok5 || !ok6 || !ok7 || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
			return b, errTemporal
		}
	}
	n := byte(0)
	switch {
	case us != 0:
		n = 11
	case h != 0 || mi != 0 || sec != 0:
		n = 7
	case y != 0 || mo != 0 || d != 0:
		n = 4
	}
	b = append(b, n)
	if n == 0 {
		return b, nil
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(y))
	b = append(b, byte(mo), byte(d))
	if n == 4 {
		return b, nil
	}
	b = append(b, byte(h), byte(mi), byte(sec))
	if n == 7 {
		return b, nil
	}
	return binary.LittleEndian.AppendUint32(b, uint32(us)), nil
}

// appendBinaryTime encodes "[-]h…h:mm:ss[.ffffff]" (0, 8 or 12 bytes:
// sign, days, hours, minutes, seconds, microseconds).
func appendBinaryTime(b []byte, s string) ([]byte, error) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	c := 0
	for c < len(s) && s[c] != ':' {
		c++
	}
	h, ok1 := digits(s, 0, c)
	mi, ok2 := digits(s, c+1, 2)
	sec, ok3 := digits(s, c+4, 2)
	us, ok4 := micros(s, c+6)
	if c == 0 || !ok1 || !ok2 || !ok3 || !ok4 || len(s) < c+6 || s[c+3] != ':' {
		return b, errTemporal
	}
	if h == 0 && mi == 0 && sec == 0 && us == 0 {
		return append(b, 0), nil
	}
	n := byte(8)
	if us != 0 {
		n = 12
	}
	sign := byte(0)
	if neg {
		sign = 1
	}
	b = append(b, n, sign)
	b = binary.LittleEndian.AppendUint32(b, uint32(h/24))
	b = append(b, byte(h%24), byte(mi), byte(sec))
	if us != 0 {
		b = binary.LittleEndian.AppendUint32(b, uint32(us))
	}
	return b, nil
}
