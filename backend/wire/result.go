package wire

// Column types (MYSQL_TYPE_*) a result the proxy builds uses.
const (
	TypeLongLong   = 0x08
	TypeDouble     = 0x05
	TypeNewDecimal = 0xf6
	TypeVarString  = 0xfd
	TypeDatetime   = 0x0c
)

// Column describes one column of a result set (a column definition packet,
// protocol 4.1).
type Column struct {
	Schema, Table, OrgTable, Name, OrgName string
	Charset                                uint16 // 63: binary, 33: utf8_general_ci, 45: utf8mb4
	Length                                 uint32
	Type                                   byte
	Flags                                  uint16
	Decimals                               byte
}

func appendLenencString(b []byte, s string) []byte {
	b = AppendLenenc(b, uint64(len(s)))
	return append(b, s...)
}

// AppendColumnDef encodes a column definition packet payload.
func AppendColumnDef(b []byte, c *Column) []byte {
	b = appendLenencString(b, "def")
	b = appendLenencString(b, c.Schema)
	b = appendLenencString(b, c.Table)
	b = appendLenencString(b, c.OrgTable)
	b = appendLenencString(b, c.Name)
	b = appendLenencString(b, c.OrgName)
	b = append(b, 0x0c, byte(c.Charset), byte(c.Charset>>8),
		byte(c.Length), byte(c.Length>>8), byte(c.Length>>16), byte(c.Length>>24),
		c.Type, byte(c.Flags), byte(c.Flags>>8), c.Decimals, 0, 0)
	return b
}

// AppendTextRow encodes a text-protocol row: each value length-encoded, a
// nil value as NULL (0xfb).
func AppendTextRow(b []byte, vals [][]byte) []byte {
	for _, v := range vals {
		if v == nil {
			b = append(b, 0xfb)
			continue
		}
		b = AppendLenenc(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}
