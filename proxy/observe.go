package proxy

import (
	"time"

	"github.com/shardgate/shardgate/engine"
)

// Observer is told about every statement the proxy routed: the data source
// that ran it ("" when none did), its class, how long it took including
// the relay of the answer, and the MySQL error code it ended with (0 for
// success). It is called on the session's goroutine, so it must be cheap
// and must not block.
type Observer interface {
	Statement(dataSource string, cls engine.Class, d time.Duration, errCode uint16)
}

// SetObserver installs o; call it before Serve.
func (s *Server) SetObserver(o Observer) { s.obs = o }
