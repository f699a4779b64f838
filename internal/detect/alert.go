package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Alert is the JSON published on auth.alerts.<tenant_id>.<rule>, stored, and
// served by the API (SPEC §4).
type Alert struct {
	ID         string    `json:"id"`
	TenantID   string    `json:"tenant_id"`
	UserID     *string   `json:"user_id"` // null when the event had none
	EventID    string    `json:"event_id"`
	Rule       Rule      `json:"rule"`
	Severity   Severity  `json:"severity"`
	Reasons    []string  `json:"reasons"`
	IPAddress  string    `json:"ip_address"`
	Country    *string   `json:"country"` // ISO 3166-1 alpha-2, null when unknown
	OccurredAt time.Time `json:"occurred_at"`
	DetectedAt time.Time `json:"detected_at"`
}

// AlertID derives an alert's id from its event and rule, so the same event
// processed again (a redelivery, a second detector) yields the same id and
// JetStream's duplicate window and the store's dedup keep one alert.
func AlertID(tenantID, eventID string, rule Rule) string {
	h := sha256.New()
	h.Write([]byte(tenantID))
	h.Write([]byte{0})
	h.Write([]byte(eventID))
	h.Write([]byte{0})
	h.Write([]byte(rule))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// AlertSubject is the subject an alert is published on.
func AlertSubject(tenantID string, rule Rule) string {
	return "auth.alerts." + tenantID + "." + string(rule)
}

// Marshal encodes the alert with times at second precision in UTC, the
// API's time format (SPEC §3).
func (a Alert) Marshal() ([]byte, error) {
	a.OccurredAt = a.OccurredAt.UTC().Truncate(time.Second)
	a.DetectedAt = a.DetectedAt.UTC().Truncate(time.Second)
	if a.Reasons == nil {
		a.Reasons = []string{}
	}
	return json.Marshal(a)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
