package client

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults of a Publisher; see the With* options.
const (
	DefaultBufferSize  = 8192
	DefaultMaxInFlight = 1024
	DefaultAckTimeout  = 5 * time.Second
	DefaultLinger      = 5 * time.Millisecond
)

// Option configures a Publisher.
type Option func(*config)

type config struct {
	bufferSize  int
	maxInFlight int
	ackTimeout  time.Duration
	linger      time.Duration
	logger      *slog.Logger
	onDrop      func(eventID string, err error)
}

func defaultConfig() config {
	return config{
		bufferSize:  DefaultBufferSize,
		maxInFlight: DefaultMaxInFlight,
		ackTimeout:  DefaultAckTimeout,
		linger:      DefaultLinger,
		logger:      slog.Default(),
	}
}

func (c config) check() error {
	if c.bufferSize < 1 {
		return fmt.Errorf("client: buffer size %d, want at least 1", c.bufferSize)
	}
	if c.maxInFlight < 1 {
		return fmt.Errorf("client: max in flight %d, want at least 1", c.maxInFlight)
	}
	if c.ackTimeout <= 0 {
		return fmt.Errorf("client: ack timeout %v, want more than 0", c.ackTimeout)
	}
	if c.linger < 0 {
		return fmt.Errorf("client: linger %v, want 0 or more", c.linger)
	}
	return nil
}

// WithBufferSize bounds how many events the Publisher holds at once: queued,
// in flight and waiting to be re-sent, all together. Publish refuses events
// beyond it with ErrBufferFull, so memory stays bounded whatever NATS does.
// The default is DefaultBufferSize.
func WithBufferSize(n int) Option {
	return func(c *config) { c.bufferSize = n }
}

// WithMaxInFlight bounds how many events are sent to JetStream and not yet
// acknowledged. The default is DefaultMaxInFlight.
func WithMaxInFlight(n int) Option {
	return func(c *config) { c.maxInFlight = n }
}

// WithAckTimeout is how long to wait for JetStream's acknowledgement of one
// event before sending it again (with the same Nats-Msg-Id, so JetStream
// keeps one copy). The default is DefaultAckTimeout.
func WithAckTimeout(d time.Duration) Option {
	return func(c *config) { c.ackTimeout = d }
}

// WithLinger sets how long an event may wait in the buffer before the
// background worker, idle until then, looks at it: the longest delay
// Publish adds on the way to JetStream while traffic is light (under load
// the worker never idles). It spares Publish waking the worker: on a
// virtual or busy machine that wake-up can cost a login tens of
// microseconds at the 99th percentile. An idle Publisher looks 1/linger
// times a second. 0 wakes the worker on every Publish instead. The
// default is DefaultLinger.
func WithLinger(d time.Duration) Option {
	return func(c *config) { c.linger = d }
}

// WithLogger sets the logger for failures; the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithOnDrop registers fn to hear about every event the Publisher gives up
// on: err is ErrBufferFull when Publish refused it (fn then runs on the
// caller's goroutine, inside Publish, so it must be quick and must not
// block), or JetStream's reason when the server rejected it for good (fn
// runs on a background goroutine).
func WithOnDrop(fn func(eventID string, err error)) Option {
	return func(c *config) { c.onDrop = fn }
}
