package notify

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/authwatch/authwatch/internal/detect"
)

// Job is one attempt at delivering one alert to one webhook: the message
// on auth.deliveries.<tenant>.<webhook id> (stream AUTH_DELIVERIES). A
// failed attempt is followed by the next attempt's job, due at NotBefore;
// everything an attempt needs travels in the job, so any notifier can make it.
type Job struct {
	DeliveryID string          `json:"delivery_id"`
	TenantID   string          `json:"tenant_id"`
	WebhookID  string          `json:"webhook_id"`
	AlertID    string          `json:"alert_id"`
	Alert      json.RawMessage `json:"alert"`   // the alert JSON as published
	Attempt    int             `json:"attempt"` // from 1
	FirstAt    time.Time       `json:"first_attempt_at,omitzero"`
	NotBefore  time.Time       `json:"not_before,omitzero"`
	// AlertPublishedAt is when the alert reached AUTH_ALERTS, for the
	// alert → delivery latency metric.
	AlertPublishedAt time.Time `json:"alert_published_at,omitzero"`
}

// NewJob is the first attempt at sending an alert to a webhook.
func NewJob(hook Webhook, alertID string, alertJSON []byte) Job {
	return Job{DeliveryID: DeliveryID(hook.ID, alertID), TenantID: hook.TenantID, WebhookID: hook.ID,
		AlertID: alertID, Alert: alertJSON, Attempt: 1}
}

// Subject is where the job is published.
func (j Job) Subject() string { return "auth.deliveries." + j.TenantID + "." + j.WebhookID }

// MsgID is the job's Nats-Msg-Id: publishing the same attempt twice (a
// notifier that died before acking what caused it) stores it once.
func (j Job) MsgID() string { return j.DeliveryID + "." + strconv.Itoa(j.Attempt) }

// ParseJob decodes a job and checks it names what a delivery needs.
func ParseJob(data []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(data, &j); err != nil {
		return j, err
	}
	if j.DeliveryID == "" || !ValidID(j.TenantID) || !ValidID(j.WebhookID) || j.AlertID == "" || len(j.Alert) == 0 || j.Attempt < 1 {
		return j, errors.New("job lacks delivery_id, tenant_id, webhook_id, alert_id, alert or attempt")
	}
	return j, nil
}

// Outcome of an attempt, as the delivery log records it.
type Outcome string

// Outcomes.
const (
	Delivered Outcome = "delivered" // a 2xx answer: done
	Retrying  Outcome = "retrying"  // failed; the next attempt is scheduled
	Failed    Outcome = "failed"    // failed, and the schedule is over: done
)

// Decide says what follows an attempt that started at started and ended
// at ended: done when it succeeded, else the next attempt's job, due a
// schedule's delay after ended (Retrying), or nothing more (Failed) when
// that is past the schedule's span from the first attempt.
func Decide(s Schedule, j Job, started, ended time.Time, ok bool) (Outcome, Job) {
	if ok {
		return Delivered, Job{}
	}
	first := j.FirstAt
	if first.IsZero() {
		first = started
	}
	next, more := s.Next(j.Attempt, first, ended)
	if !more {
		return Failed, Job{}
	}
	n := j
	n.Attempt++
	n.FirstAt = first
	n.NotBefore = next
	return Retrying, n
}

// SampleAlert is what POST /webhooks/{id}/test sends: an alert of the
// webhook's first rule (new_device for "*"), marked as a test in its id,
// user and reasons, so a receiver's parsing is exercised for real.
func SampleAlert(hook Webhook, now time.Time) detect.Alert {
	rule := detect.NewDevice
	for _, r := range hook.Rules {
		if detect.ValidRule(r) {
			rule = detect.Rule(r)
			break
		}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	user := "authwatch-test-user"
	country := "GB"
	now = now.UTC().Truncate(time.Second)
	return detect.Alert{
		ID: "test_" + hex.EncodeToString(b[:]), TenantID: hook.TenantID, UserID: &user, EventID: "test_event",
		Rule: rule, Severity: detect.SeverityOf(rule),
		Reasons:   []string{"This is a test alert sent from the authwatch API to check that this webhook receives and verifies alerts; no login happened."},
		IPAddress: "203.0.113.7", Country: &country, OccurredAt: now, DetectedAt: now,
	}
}
