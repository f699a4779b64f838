package store

import (
	"context"
	"fmt"
	"time"

	"github.com/authwatch/authwatch/internal/detect"
)

const insertAlerts = `INSERT INTO alerts (tenant_id, occurred_at, occurred_ms, id, event_id, user_id, rule, severity,
	ip_address, country, detected_at, alert)`

// InsertAlerts stores alerts as one native block. The alert column keeps the
// JSON as published, which is what the API serves; the other columns are
// what it filters and sorts on. Writing an alert again (a redelivery) adds a
// copy with the same id, which reads take once.
func (s *Store) InsertAlerts(ctx context.Context, alerts []detect.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	n := len(alerts)
	var (
		tenants, ids, events, users, rules, severities, ips, countries, docs = make([]string, 0, n), make([]string, 0, n),
			make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n),
			make([]string, 0, n), make([]string, 0, n)
		occurred, detected = make([]time.Time, 0, n), make([]time.Time, 0, n)
		ms                 = make([]uint16, 0, n)
	)
	for _, a := range alerts {
		doc, err := a.Marshal()
		if err != nil {
			return fmt.Errorf("alert %s: %w", a.ID, err)
		}
		tenants, ids, events = append(tenants, a.TenantID), append(ids, a.ID), append(events, a.EventID)
		users, rules, severities = append(users, deref(a.UserID)), append(rules, string(a.Rule)), append(severities, string(a.Severity))
		ips, countries, docs = append(ips, a.IPAddress), append(countries, deref(a.Country)), append(docs, string(doc))
		at := a.OccurredAt.UTC()
		occurred, ms = append(occurred, at.Truncate(time.Second)), append(ms, uint16(at.Nanosecond()/int(time.Millisecond)))
		detected = append(detected, a.DetectedAt.UTC().Truncate(time.Second))
	}
	cols := []any{tenants, occurred, ms, ids, events, users, rules, severities, ips, countries, detected, docs}
	if err := s.insertColumns(ctx, insertAlerts, cols); err != nil {
		return fmt.Errorf("insert alerts: %w", err)
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
