package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
)

// streamBuffer is how many alerts may wait for a slow client; past that
// NATS drops them for this stream (a slow consumer) rather than hold memory.
const streamBuffer = 256

// GET /api/v1/alerts/stream — each new alert of the caller's tenant as a
// Server-Sent Event "alert", with a comment line every keepalive (admin).
//
// Alerts are published to JetStream on auth.alerts.<tenant>.<rule>; a core
// subscription on that subject receives every publish, so the stream shows
// what is raised from the moment it opens (no replay of older alerts: the
// list route has those).
func (s *Server) alertStream(c echo.Context) error {
	tenant := principal(c).TenantID
	nc, err := s.natsConn()
	if err != nil {
		return err
	}
	msgs := make(chan *nats.Msg, streamBuffer)
	sub, err := nc.ChanSubscribe("auth.alerts."+tenant+".>", msgs)
	if err != nil {
		return s.natsError(err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // the connection may be closing
	// One round trip, so the server holds the subscription before the client
	// sees the stream open: an alert raised after that reaches it.
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	err = nc.FlushWithContext(ctx)
	cancel()
	if err != nil {
		return s.natsError(err)
	}

	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // tells nginx not to buffer the stream
	w.WriteHeader(http.StatusOK)
	if !writeEvent(w, ": stream open\n\n") {
		return nil
	}
	seen := newRecentIDs(1024)
	tick := time.NewTicker(s.keepalive)
	defer tick.Stop()
	for {
		var frame string
		select {
		case <-c.Request().Context().Done(): // the client went away
			return nil
		case <-s.done: // the server is shutting down
			return nil
		case <-tick.C:
			frame = ": keepalive\n\n"
		case m := <-msgs:
			data, id, ok := alertData(m.Data)
			if !ok {
				s.log.Warn("alert stream: skipping a message that is not an alert", "subject", m.Subject)
				continue
			}
			if !seen.add(id) {
				continue // published again by a redelivered detector message
			}
			frame = "event: alert\ndata: " + data + "\n\n"
		}
		if !writeEvent(w, frame) {
			return nil
		}
	}
}

// writeEvent writes one frame and flushes it; false when the client is gone.
func writeEvent(w *echo.Response, frame string) bool {
	if _, err := io.WriteString(w, frame); err != nil {
		return false
	}
	return http.NewResponseController(w).Flush() == nil
}

// alertData checks that a message is an alert and returns it as one line of
// JSON (an SSE data line ends at a newline) with its id.
func alertData(payload []byte) (data, id string, ok bool) {
	var a struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(payload, &a); err != nil || a.ID == "" {
		return "", "", false
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, payload); err != nil {
		return "", "", false
	}
	return buf.String(), a.ID, true
}

// recentIDs remembers the last n ids it was given. JetStream drops an alert
// published again under the same Nats-Msg-Id (a detector redelivery), but a
// core subscriber still receives the second publish; the stream sends each
// alert once.
type recentIDs struct {
	set   map[string]struct{}
	order []string // ring of the ids in set, oldest at next
	next  int
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{set: make(map[string]struct{}, n), order: make([]string, 0, n)}
}

// add records id and reports whether it is new.
func (r *recentIDs) add(id string) bool {
	if _, ok := r.set[id]; ok {
		return false
	}
	if len(r.order) < cap(r.order) {
		r.order = append(r.order, id)
	} else {
		delete(r.set, r.order[r.next])
		r.order[r.next] = id
		r.next = (r.next + 1) % len(r.order)
	}
	r.set[id] = struct{}{}
	return true
}
