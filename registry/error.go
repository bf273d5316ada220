package registry

import (
	"errors"
	"fmt"
)

// Code classifies registry errors.
type Code int

const (
	NotFound Code = iota + 1
	Exists
	BadVersion
	NotEmpty
	Unavailable
	Timeout
	SessionLost
	Invalid
	Closed
	// Denied: the registry refused the client's credential or the
	// operation's permission (etcd auth, ZooKeeper ACL).
	Denied
)

// Sentinels to match with errors.Is.
var (
	ErrNotFound    = errors.New("node not found")
	ErrExists      = errors.New("node already exists")
	ErrBadVersion  = errors.New("version conflict")
	ErrNotEmpty    = errors.New("node has children")
	ErrUnavailable = errors.New("registry unavailable")
	ErrTimeout     = errors.New("registry operation timed out")
	ErrSessionLost = errors.New("registry session lost")
	ErrInvalid     = errors.New("invalid argument")
	ErrClosed      = errors.New("registry client closed")
	ErrDenied      = errors.New("registry permission denied")
)

var sentinels = map[Code]error{
	NotFound:    ErrNotFound,
	Exists:      ErrExists,
	BadVersion:  ErrBadVersion,
	NotEmpty:    ErrNotEmpty,
	Unavailable: ErrUnavailable,
	Timeout:     ErrTimeout,
	SessionLost: ErrSessionLost,
	Invalid:     ErrInvalid,
	Closed:      ErrClosed,
	Denied:      ErrDenied,
}

// Error is the error every backend returns: a code, the path it concerns and
// the backend's own error.
type Error struct {
	Code Code
	Path string
	Err  error
}

func (e *Error) Error() string {
	msg := sentinels[e.Code].Error()
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Path != "" {
		return fmt.Sprintf("registry %s: %s", e.Path, msg)
	}
	return "registry: " + msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of e's code.
func (e *Error) Is(target error) bool { return sentinels[e.Code] == target }

// NewError builds an *Error.
func NewError(code Code, path string, err error) error {
	return &Error{Code: code, Path: path, Err: err}
}
