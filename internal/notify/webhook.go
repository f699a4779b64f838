// Package notify holds what alert notifications are, as pure functions: a
// webhook and which alerts it wants, the request it gets (body, signature,
// delivery id), when a failed attempt is tried again, and which addresses a
// webhook may not reach. The notifier service (internal/notifier) and the
// API (internal/httpapi) run this code; nothing here does I/O except the
// DNS lookup a URLPolicy is given.
package notify

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/detect"
)

// Format is how an alert is written into the POST body.
type Format string

// Formats (SPEC §3).
const (
	FormatJSON  Format = "json"  // the alert JSON itself
	FormatSlack Format = "slack" // {"text": "..."} for a Slack incoming webhook
)

// AllRules is the rules entry meaning every rule.
const AllRules = "*"

// Webhook is one registered receiver of a tenant's alerts. Secret is the
// HMAC key of Authwatch-Signature: stored, never shown.
type Webhook struct {
	ID          string          `json:"id"`
	TenantID    string          `json:"tenant_id"`
	URL         string          `json:"url"`
	Rules       []string        `json:"rules"` // rule names, or ["*"]
	MinSeverity detect.Severity `json:"min_severity"`
	Format      Format          `json:"format"`
	Secret      string          `json:"secret"`
	CreatedAt   time.Time       `json:"created_at"`
}

// Wants says whether an alert of rule and severity goes to this webhook.
func (w Webhook) Wants(rule detect.Rule, sev detect.Severity) bool {
	if SeverityRank(sev) < SeverityRank(w.MinSeverity) {
		return false
	}
	return slices.Contains(w.Rules, AllRules) || slices.Contains(w.Rules, string(rule))
}

// SeverityRank orders severities: low 1 < medium 2 < high 3; anything else 0.
func SeverityRank(s detect.Severity) int {
	switch s {
	case detect.Low:
		return 1
	case detect.Medium:
		return 2
	case detect.High:
		return 3
	}
	return 0
}

// NewWebhookID returns a fresh random webhook id: "wh_" and 24 hex digits,
// fit for a KV key token and a NATS subject token.
func NewWebhookID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "wh_" + hex.EncodeToString(b[:])
}

// ValidID says whether s can be a webhook id: 1–64 of A-Z a-z 0-9 _ -,
// so it never puts a wildcard or separator into a KV key or subject.
func ValidID(s string) bool { return event.ValidID(s) }

// DeliveryID is the Authwatch-Delivery of an alert sent to a webhook: the
// same on every attempt and on every notifier, so receivers can dedup.
func DeliveryID(webhookID, alertID string) string {
	h := sha256.New()
	h.Write([]byte(webhookID))
	h.Write([]byte{0})
	h.Write([]byte(alertID))
	return hex.EncodeToString(h.Sum(nil)[:16])
}
