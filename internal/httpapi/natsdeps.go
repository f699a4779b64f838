package httpapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsConn returns the NATS connection, or ErrNATSUnavailable (503) while
// there is none or it is not connected.
func (s *Server) natsConn() (*nats.Conn, error) {
	if s.nc == nil || !s.nc.IsConnected() {
		return nil, ErrNATSUnavailable
	}
	return s.nc, nil
}

// lockoutBucket returns KV bucket auth_lockouts, or ErrNATSUnavailable
// while NATS is not connected or the bucket is not declared yet.
func (s *Server) lockoutBucket() (jetstream.KeyValue, error) {
	if _, err := s.natsConn(); err != nil {
		return nil, err
	}
	kv := s.lockouts()
	if kv == nil {
		return nil, ErrNATSUnavailable
	}
	return kv, nil
}

// natsError turns a failed NATS call into a 503 when NATS itself is away
// (the connection dropped, JetStream does not answer); anything else stays
// an error of ours (500, logged).
func (s *Server) natsError(err error) error {
	if !s.nc.IsConnected() || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("nats call failed", "err", err)
		return fmt.Errorf("%w: %v", ErrNATSUnavailable, err)
	}
	return err
}
