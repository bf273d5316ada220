package proxy

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/engine"
)

// Binary protocol parameter types (MySQL's enum_field_types).
const (
	ptDecimal    = 0x00
	ptTiny       = 0x01
	ptShort      = 0x02
	ptLong       = 0x03
	ptFloat      = 0x04
	ptDouble     = 0x05
	ptNull       = 0x06
	ptTimestamp  = 0x07
	ptLongLong   = 0x08
	ptInt24      = 0x09
	ptDate       = 0x0a
	ptDatetime   = 0x0c
	ptYear       = 0x0d
	ptVarchar    = 0x0f
	ptBit        = 0x10
	ptJSON       = 0xf5
	ptNewDecimal = 0xf6
	ptEnum       = 0xf7
	ptSet        = 0xf8
	ptTinyBlob   = 0xf9
	ptMediumBlob = 0xfa
	ptLongBlob   = 0xfb
	ptBlob       = 0xfc
	ptVarString  = 0xfd
	ptString     = 0xfe
)

func badParams(why string) error {
	return wire.NewError(1210, "HY000", "Incorrect arguments to mysqld_stmt_execute: %s", why)
}

// params decodes a COM_STMT_EXECUTE's parameter values, for routing a
// sharded statement (the backend gets the client's own bytes). Integers
// are int64 (uint64 past its range), decimals and text strings, dates
// time.Time.
func (s *session) params(st *stmt, p []byte) ([]any, error) {
	n := int(st.params)
	if n == 0 {
		return nil, nil
	}
	if len(st.long) > 0 {
		return nil, &engine.Error{Kind: engine.ErrUnsupported, Code: engine.ErrCodeUnsupported, SQLState: "42000",
			Message: "shardgate: long data (COM_STMT_SEND_LONG_DATA) for a statement on sharded tables is not supported yet"}
	}
	nb := (n + 7) / 8
	if len(p) < 11+nb {
		return nil, badParams("short packet")
	}
	nulls := p[10 : 10+nb]
	rest := p[11+nb:]
	if p[10+nb] == 1 {
		rest = rest[2*n:] // execute() checked the types are there
	}
	if len(st.types) != 2*n {
		return nil, badParams("parameter types were never sent")
	}
	args := make([]any, n)
	take := func(k int) ([]byte, error) {
		if len(rest) < k {
			return nil, badParams("a parameter value is cut short")
		}
		b := rest[:k]
		rest = rest[k:]
		return b, nil
	}
	for i := range n {
		if nulls[i/8]&(1<<(i%8)) != 0 {
			continue // NULL
		}
		typ, unsigned := st.types[2*i], st.types[2*i+1]&0x80 != 0
		var err error
		var b []byte
		switch typ {
		case ptNull:
		case ptTiny:
			if b, err = take(1); err == nil {
				args[i] = int64(int8(b[0]))
				if unsigned {
					args[i] = int64(b[0])
				}
			}
		case ptShort, ptYear:
			if b, err = take(2); err == nil {
				v := binary.LittleEndian.Uint16(b)
				args[i] = int64(int16(v))
				if unsigned {
					args[i] = int64(v)
				}
			}
		case ptLong, ptInt24:
			if b, err = take(4); err == nil {
				v := binary.LittleEndian.Uint32(b)
				args[i] = int64(int32(v))
				if unsigned {
					args[i] = int64(v)
				}
			}
		case ptLongLong:
			if b, err = take(8); err == nil {
				v := binary.LittleEndian.Uint64(b)
				args[i] = int64(v)
				if unsigned && v > math.MaxInt64 {
					args[i] = v
				}
			}
		case ptFloat:
			if b, err = take(4); err == nil {
				args[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
			}
		case ptDouble:
			if b, err = take(8); err == nil {
				args[i] = math.Float64frombits(binary.LittleEndian.Uint64(b))
			}
		case ptDate, ptDatetime, ptTimestamp:
			var l []byte
			if l, err = take(1); err == nil {
				if b, err = take(int(l[0])); err == nil {
					args[i] = binaryTime(b)
				}
			}
		case ptDecimal, ptNewDecimal, ptVarchar, ptBit, ptJSON, ptEnum, ptSet, ptTinyBlob, ptMediumBlob, ptLongBlob, ptBlob, ptVarString, ptString:
			l, r, ok := wire.ReadLenenc(rest)
			if !ok || uint64(len(r)) < l {
				return nil, badParams("a string parameter is cut short")
			}
			args[i], rest = string(r[:l]), r[l:]
		default:
			return nil, &engine.Error{Kind: engine.ErrUnsupported, Code: engine.ErrCodeUnsupported, SQLState: "42000",
				Message: "shardgate: a parameter of binary type " + itoa(int(typ)) + " for a statement on sharded tables is not supported"}
		}
		if err != nil {
			return nil, err
		}
	}
	return args, nil
}

// binaryTime reads a binary DATE/DATETIME/TIMESTAMP value.
func binaryTime(b []byte) time.Time {
	var y, mo, d, h, mi, sec, us int
	if len(b) >= 4 {
		y, mo, d = int(binary.LittleEndian.Uint16(b)), int(b[2]), int(b[3])
	}
	if len(b) >= 7 {
		h, mi, sec = int(b[4]), int(b[5]), int(b[6])
	}
	if len(b) >= 11 {
		us = int(binary.LittleEndian.Uint32(b[7:]))
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, us*1000, time.UTC)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
