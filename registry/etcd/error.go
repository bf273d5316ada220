package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shardgate/shardgate/registry"
)

// convertError turns any client error into a *registry.Error.
func (c *Client) convertError(err error, path string) error {
	if err == nil {
		return nil
	}
	var re *registry.Error
	if errors.As(err, &re) {
		return err
	}
	if c.isClosed() {
		return registry.NewError(registry.Closed, path, fmt.Errorf("client closed: %w", err))
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return registry.NewError(registry.Timeout, path, fmt.Errorf("etcd %v did not answer in time: %w", c.endpoints, err))
	case errors.Is(err, context.Canceled):
		return registry.NewError(registry.Unavailable, path, err)
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		return registry.NewError(registry.SessionLost, path, fmt.Errorf("etcd lease lost: %w", err))
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return registry.NewError(registry.Invalid, path, err)
	case errors.Is(err, rpctypes.ErrUserEmpty):
		return registry.NewError(registry.Denied, path, fmt.Errorf("etcd auth: %w: the registry requires a user (registry.username and password, or registry.credentialFile; "+
			"the embedded registry's root credential is the file <dataDir>.credential, e.g. shardgate-data/registry.credential)", err))
	case errors.Is(err, rpctypes.ErrAuthFailed), errors.Is(err, rpctypes.ErrPermissionDenied), errors.Is(err, rpctypes.ErrInvalidAuthToken):
		return registry.NewError(registry.Denied, path, fmt.Errorf("etcd auth: %w", err))
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.DeadlineExceeded:
			return registry.NewError(registry.Timeout, path, fmt.Errorf("etcd %v: %w", c.endpoints, err))
		case codes.Unavailable, codes.Canceled, codes.Aborted:
			return registry.NewError(registry.Unavailable, path, fmt.Errorf("etcd %v: %w", c.endpoints, err))
		case codes.InvalidArgument, codes.FailedPrecondition, codes.ResourceExhausted:
			return registry.NewError(registry.Invalid, path, err)
		}
	}
	return registry.NewError(registry.Unavailable, path, fmt.Errorf("etcd %v: %w", c.endpoints, err))
}
