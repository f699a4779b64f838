// Package bus is authwatch's NATS JetStream adapter: connecting, the stream
// topology (declared here and nowhere else), and the dead-letter queue.
package bus

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Config says where NATS is and how to authenticate (SPEC §1 variables).
type Config struct {
	URL      string // comma separated
	Creds    string // path to a .creds file
	User     string
	Password string
	Token    string
}

// ConfigFromEnv reads NATS_URL, NATS_CREDS, NATS_USER, NATS_PASSWORD, NATS_TOKEN.
func ConfigFromEnv(getenv func(string) string) Config {
	c := Config{
		URL:      getenv("NATS_URL"),
		Creds:    getenv("NATS_CREDS"),
		User:     getenv("NATS_USER"),
		Password: getenv("NATS_PASSWORD"),
		Token:    getenv("NATS_TOKEN"),
	}
	if c.URL == "" {
		c.URL = nats.DefaultURL
	}
	return c
}

// Connect dials NATS. It returns at once even when the server is down and
// keeps reconnecting forever, so a service started before NATS, or one whose
// NATS restarts, carries on by itself.
func Connect(cfg Config, name string, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("nats async error", "subject", subj, "err", err)
		}),
	}
	switch {
	case cfg.Creds != "":
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	case cfg.User != "":
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	case cfg.Token != "":
		opts = append(opts, nats.Token(cfg.Token))
	}
	nc, err := nats.Connect(strings.ReplaceAll(cfg.URL, " ", ""), opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	return nc, nil
}

// Retry calls f until it succeeds or ctx ends, waiting with capped
// exponential backoff between attempts and logging each failure.
func Retry(ctx context.Context, log *slog.Logger, what string, f func(context.Context) error) error {
	wait := 200 * time.Millisecond
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		log.Warn("retrying", "what", what, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}
