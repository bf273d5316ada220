package driver

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/shardgate/shardgate/engine"
	"github.com/shardgate/shardgate/orchestration"
)

// DriverName is the name the package registers with database/sql.
const DriverName = "shardgate"

func init() { sql.Register(DriverName, &Driver{}) }

// Driver is the database/sql driver. Its data source name is the path of a
// shardgate instance file (the proxy's format: dataSources,
// masterSlaveRule, props, users and an orchestration section).
type Driver struct{}

var (
	_ driver.Driver        = (*Driver)(nil)
	_ driver.DriverContext = (*Driver)(nil)
)

// Open is not supported: one connector is one registered instance, so
// database/sql must go through OpenConnector (sql.Open does).
func (d *Driver) Open(name string) (driver.Conn, error) {
	return nil, errors.New("shardgate: use sql.Open(\"shardgate\", path) or sql.OpenDB(driver.NewConnector(file)); Driver.Open would start an instance per connection")
}

// OpenConnector loads the instance file at name and starts the instance
// (registry, orchestration, pools). sql.Open returns its error.
func (d *Driver) OpenConnector(name string) (driver.Connector, error) {
	f, err := orchestration.LoadFile(name)
	if err != nil {
		return nil, fmt.Errorf("shardgate: %w", err)
	}
	return NewConnector(f)
}

// Sentinel errors, matched with errors.Is against the *Error a statement
// returns.
var (
	// ErrInstanceDisabled: the instance's registry node holds DISABLED
	// (circuit breaker). Every statement but a rollback fails with it.
	ErrInstanceDisabled = engine.ErrInstanceDisabled
	// ErrMasterDisabled: the master data source is disabled; statements
	// that need it fail, reads keep going to the slaves.
	ErrMasterDisabled = engine.ErrMasterDisabled
	// ErrUnavailable: no data source can run the statement.
	ErrUnavailable = engine.ErrNoDataSource
	// ErrUnsupported: the statement cannot be planned.
	ErrUnsupported = engine.ErrUnsupported
	// ErrClosed: the connector was closed.
	ErrClosed = errors.New("shardgate: connector closed")
)

// Error is a routing error: the same code, SQL state and message the proxy
// sends as a MySQL error. errors.Is matches it against one of the sentinel
// errors above; errors.As finds the *engine.Error inside.
type Error struct {
	Code     uint16
	SQLState string
	Message  string
	kind     error
	cause    *engine.Error
}

func (e *Error) Error() string { return e.Message }

// Is reports whether target is the sentinel for this error's kind.
func (e *Error) Is(target error) bool { return target == e.kind }

// Unwrap returns the engine's error.
func (e *Error) Unwrap() error {
	if e.cause == nil {
		return nil // not a typed nil: errors.Is would call it
	}
	return e.cause
}

// routeError turns an engine error into an *Error, suffix added to its
// message; other errors are returned as they are.
func routeError(err error, suffix string) error {
	var ee *engine.Error
	if !errors.As(err, &ee) {
		return err
	}
	return &Error{Code: ee.Code, SQLState: ee.SQLState, Message: ee.Message + suffix, kind: ee.Kind, cause: ee}
}

var errNoNextResultSet = errors.New("shardgate: no further result set")
