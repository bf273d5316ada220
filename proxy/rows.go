package proxy

import (
	"errors"
	"fmt"

	"github.com/shardgate/shardgate/backend/wire"
	"github.com/shardgate/shardgate/engine"
)

// rowWriter writes a result set the proxy built itself (merged from several
// units' rows) to the client in the text protocol, beside wire.Relay,
// which stays the fast path for single-unit plans. Both ends speak the
// protocol without CLIENT_DEPRECATE_EOF: column count, definitions, EOF,
// rows, EOF.
type rowWriter struct {
	c *wire.Conn
	// status is the session's server status flags, sent in both EOFs.
	status uint16
	buf    []byte
	cols   int
	// maxPacket bounds one row, as the client's max_allowed_packet would.
	maxPacket int
	// binary: rows go in the binary protocol (the answer to
	// COM_STMT_EXECUTE), converted from text values by their column's
	// type (bin, from rawColumns).
	binary bool
	bin    []wire.BinaryColumn
	err    error
}

var errRowTooLarge = errors.New("shardgate: a built row exceeds one packet")

// binaryLossy refuses a merged answer to a prepared statement with a FLOAT
// column: merged rows are read in the text protocol, which prints a FLOAT
// with 6 significant digits, and one server's binary answer carries all
// of the float's bits. (DOUBLE prints its shortest exact form: no loss.)
func binaryLossy(defs [][]byte) error {
	for i, d := range defs {
		if c, ok := wire.ColumnOf(d); ok && c.Type == 0x04 {
			return &engine.Error{Kind: engine.ErrUnsupported, Code: engine.ErrCodeUnsupported, SQLState: "42000", Message: fmt.Sprintf(
				"shardgate: column %d of this prepared statement's merged answer is a FLOAT, which its text form would round; select it as DOUBLE (CAST(x AS DOUBLE)) or send the statement as text", i+1)}
		}
	}
	return nil
}

// columns starts the result set.
func (w *rowWriter) columns(cols []wire.Column) {
	w.cols = len(cols)
	w.write(wire.AppendLenenc(w.buf[:0], uint64(len(cols))))
	for i := range cols {
		w.write(wire.AppendColumnDef(w.buf[:0], &cols[i]))
	}
	w.write(wire.AppendEOF(w.buf[:0], w.status, 0))
}

// rawColumns starts the result set with column definitions as a server
// sent them.
func (w *rowWriter) rawColumns(defs [][]byte) {
	w.cols = len(defs)
	w.write(wire.AppendLenenc(w.buf[:0], uint64(len(defs))))
	for _, d := range defs {
		w.write(d)
		if w.binary {
			c, ok := wire.ColumnOf(d)
			if !ok {
				w.fail(wire.ErrMalformed)
			}
			w.bin = append(w.bin, c)
		}
	}
	w.write(wire.AppendEOF(w.buf[:0], w.status, 0))
}

// row writes one row; vals has one value per column, nil for NULL.
func (w *rowWriter) row(vals [][]byte) {
	if len(vals) != w.cols {
		w.fail(errors.New("shardgate: a built row does not have one value per column"))
		return
	}
	var b []byte
	if w.binary {
		var err error
		if b, err = wire.AppendBinaryRow(w.buf[:0], w.bin, vals); err != nil {
			w.fail(err)
			return
		}
	} else {
		b = wire.AppendTextRow(w.buf[:0], vals)
	}
	if len(b) > w.maxPacket || len(b) > wire.MaxPayload {
		w.fail(errRowTooLarge)
		return
	}
	w.write(b)
}

// end finishes the result set and returns the first error met.
func (w *rowWriter) end(warnings uint16) error {
	w.write(wire.AppendEOF(w.buf[:0], w.status, warnings))
	return w.err
}

func (w *rowWriter) write(b []byte) {
	w.buf = b
	if w.err == nil {
		w.err = w.c.WritePacket(b)
	}
}

func (w *rowWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}
