package wire

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// Each text value encodes as MariaDB sends the same value in a binary row
// (encodings from the protocol's documentation of the binary result set).
func TestAppendBinaryRow(t *testing.T) {
	for _, c := range []struct {
		col  BinaryColumn
		text string
		want string // hex of the value after header and bitmap
	}{
		{BinaryColumn{Type: 0x01}, "-1", "ff"},
		{BinaryColumn{Type: 0x01, Unsigned: true}, "255", "ff"},
		{BinaryColumn{Type: 0x02}, "-2", "feff"},
		{BinaryColumn{Type: 0x0d, Unsigned: true}, "2024", "e807"},
		{BinaryColumn{Type: 0x03}, "65536", "00000100"},
		{BinaryColumn{Type: 0x09}, "-1", "ffffffff"},
		{BinaryColumn{Type: 0x08}, "-9223372036854775808", "0000000000000080"},
		{BinaryColumn{Type: 0x08, Unsigned: true}, "18446744073709551615", "ffffffffffffffff"},
		{BinaryColumn{Type: 0x04}, "1.5", "0000c03f"},
		{BinaryColumn{Type: 0x05}, "-2", "00000000000000c0"},
		{BinaryColumn{Type: 0xf6}, "12.50", "0531322e3530"},
		{BinaryColumn{Type: 0xfd}, "héllo", "0668c3a96c6c6f"},
		{BinaryColumn{Type: 0x0a}, "2010-10-17", "04da070a11"},
		{BinaryColumn{Type: 0x0a}, "0000-00-00", "00"},
		{BinaryColumn{Type: 0x0c}, "2010-10-17 19:27:30", "07da070a11131b1e"},
		{BinaryColumn{Type: 0x0c}, "2010-10-17 00:00:00", "04da070a11"},
		{BinaryColumn{Type: 0x07}, "2010-10-17 19:27:30.000001", "0bda070a11131b1e01000000"},
		{BinaryColumn{Type: 0x0c}, "2010-10-17 19:27:30.25", "0bda070a11131b1e90d00300"},
		{BinaryColumn{Type: 0x0b}, "00:00:00", "00"},
		{BinaryColumn{Type: 0x0b}, "-120:19:27", "0801050000000013 1b"},
		{BinaryColumn{Type: 0x0b}, "838:59:59.000001", "0c00220000001 63b3b01000000"},
	} {
		want, err := hex.DecodeString(strings.ReplaceAll(c.want, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendBinaryRow(nil, []BinaryColumn{c.col}, [][]byte{[]byte(c.text)})
		if err != nil {
			t.Errorf("%q: %v", c.text, err)
			continue
		}
		if got[0] != 0 || got[1] != 0 || !bytes.Equal(got[2:], want) {
			t.Errorf("type %#x %q: % x, want 00 00 % x", c.col.Type, c.text, got, want)
		}
	}
}

// NULLs are bits of the bitmap at offset 2; the values of other columns
// follow in order.
func TestAppendBinaryRowNulls(t *testing.T) {
	cols := make([]BinaryColumn, 9)
	for i := range cols {
		cols[i] = BinaryColumn{Type: 0x01}
	}
	vals := [][]byte{nil, []byte("1"), nil, nil, nil, nil, nil, []byte("2"), nil}
	got, err := AppendBinaryRow(nil, cols, vals)
	if err != nil {
		t.Fatal(err)
	}
	// columns 0,2..6,8 NULL: bits 2,4..8,10 → 0b11110100 0b00000101
	if want := []byte{0, 0xf4, 0x05, 1, 2}; !bytes.Equal(got, want) {
		t.Errorf("% x, want % x", got, want)
	}
}

// A value that does not read as its column's type is an error naming it.
func TestAppendBinaryRowBadValue(t *testing.T) {
	for _, c := range []struct {
		typ  byte
		text string
	}{{0x08, "12x"}, {0x05, "one"}, {0x0c, "2010-1-1"}, {0x0b, "12:3"}, {0x0a, "2010-10-17 1"}, {0x0b, ":00:00"}} {
		_, err := AppendBinaryRow(nil, []BinaryColumn{{Type: c.typ}}, [][]byte{[]byte(c.text)})
		if err == nil || !strings.Contains(err.Error(), "column 1") {
			t.Errorf("%#x %q: %v", c.typ, c.text, err)
		}
	}
	if _, err := AppendBinaryRow(nil, []BinaryColumn{{Type: 1}}, nil); err == nil {
		t.Error("a row without its values encoded")
	}
}

// No text makes the encoder panic, whatever the column type.
func FuzzAppendBinaryRow(f *testing.F) {
	for _, s := range []string{"1", "-1", "2010-10-17 19:27:30.25", "-838:59:59.000001", "1.5e3", "", ":", "1:2:3", "2010-10-17 "} {
		f.Add(byte(0x0c), false, s)
	}
	f.Fuzz(func(t *testing.T, typ byte, unsigned bool, text string) {
		AppendBinaryRow(nil, []BinaryColumn{{Type: typ, Unsigned: unsigned}}, [][]byte{[]byte(text)})
	})
}
