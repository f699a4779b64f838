package notifier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/notify"
)

// Attempt is what one POST gave.
type Attempt struct {
	StatusCode int    // 0 when there was no answer
	Err        string // "" on a 2xx; else what went wrong, for a person
	Result     string // delivered, http_error, timeout, refused or error (a metric label)
	Duration   time.Duration
}

// OK says whether the receiver took the alert (a 2xx).
func (a Attempt) OK() bool { return a.Result == "delivered" }

// Sender POSTs signed requests. Unless private addresses are allowed, it
// refuses to connect to any address notify.BlockedReason names, checked on
// the address actually dialed, after DNS.
type Sender struct {
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

// NewSender returns a sender whose every attempt ends within timeout
// (SPEC §3: no answer within 10 s is a failure).
func NewSender(allowPrivate bool, timeout time.Duration) *Sender {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = notify.DialControl
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would be what gets dialed, and checked, instead of the receiver
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &Sender{
		client: &http.Client{Transport: tr, Timeout: timeout,
			// A redirect is an answer that is not 2xx: not followed, so a
			// receiver cannot bounce the notifier to an internal address.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		timeout: timeout,
		now:     time.Now,
	}
}

// Send POSTs body to the webhook with the delivery id and a signature made
// now. It never returns an error: every outcome is an Attempt to log.
func (s *Sender) Send(ctx context.Context, hook notify.Webhook, deliveryID string, body []byte) Attempt {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return Attempt{Err: "the webhook's url cannot be requested: " + oneLine(err.Error()), Result: "error"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "authwatch-notifier/1")
	req.Header.Set(notify.HeaderDelivery, deliveryID)
	req.Header.Set(notify.HeaderSignature, notify.Signature(hook.Secret, s.now(), body))
	resp, err := s.client.Do(req)
	if err != nil {
		a := s.failure(err)
		a.Duration = time.Since(start)
		return a
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection can be reused
	a := Attempt{StatusCode: resp.StatusCode, Duration: time.Since(start)}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		a.Result = "delivered"
		return a
	}
	a.Result = "http_error"
	a.Err = fmt.Sprintf("HTTP %d", resp.StatusCode)
	if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
		a.Err += " (redirects are not followed)"
	}
	if msg := oneLine(strings.TrimSpace(string(head))); msg != "" {
		a.Err += ": " + msg
	}
	return a
}

// failure describes an attempt that got no answer. The URL is left out of
// the message: some (Slack's) are secrets themselves.
func (s *Sender) failure(err error) Attempt {
	var blocked *notify.BlockedAddrError
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var nerr net.Error
	switch {
	case errors.As(err, &blocked):
		return Attempt{Err: blocked.Error(), Result: "refused"}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return Attempt{Err: fmt.Sprintf("no answer within %s", s.timeout), Result: "timeout"}
	case errors.Is(err, context.Canceled):
		return Attempt{Err: "cancelled: the notifier is stopping", Result: "error"}
	}
	return Attempt{Err: oneLine(err.Error()), Result: "error"}
}

// oneLine keeps a message fit for a log row: one line, bounded.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "..."
	}
	return s
}
