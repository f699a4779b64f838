package store

import (
	"context"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/detect"
)

// Stored is one stored event as the rules see it: a login or a token use.
type Stored struct {
	At    time.Time // with milliseconds
	Login *detect.Login
	Token *detect.TokenUse
}

// History calls fn with every stored login and authenticated token event
// of [from, to) (of one tenant, or of all when tenant is ""), in time
// order, each event once. It reads a day at a time, so a long span costs
// memory for one day only. The backtest (detector replay) runs on it.
func (s *Store) History(ctx context.Context, tenant string, from, to time.Time, fn func(Stored) error) error {
	for day := from; day.Before(to); day = day.Add(24 * time.Hour) {
		end := day.Add(24 * time.Hour)
		if end.After(to) {
			end = to
		}
		events, err := s.historySpan(ctx, tenant, day, end)
		if err != nil {
			return err
		}
		for _, e := range events {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) historySpan(ctx context.Context, tenant string, from, to time.Time) ([]Stored, error) {
	var c conds
	if tenant != "" {
		c.and("tenant_id = ?", tenant)
	}
	c.span(from, to)
	where, args := c.sql()
	logins, err := queryRows(ctx, s, func(r driver.Rows) (Stored, error) {
		l := &detect.Login{}
		var status string
		var ms uint16
		err := r.Scan(&l.TenantID, &l.UserID, &l.ID, &l.Identifier, &l.IP, &status, &l.At, &ms,
			&l.Device.Type, &l.Device.Browser, &l.Device.Platform, &l.Country, &l.City, &l.Lat, &l.Lon)
		l.Status = event.Status(status)
		l.At = l.At.UTC().Add(time.Duration(ms) * time.Millisecond)
		l.Located = l.Country != "" && (l.Lat != 0 || l.Lon != 0)
		return Stored{At: l.At, Login: l}, err
	}, `SELECT tenant_id, user_id, id, identifier, ip_address, toString(status), occurred_at, occurred_ms,
		toString(device_type), browser, platform, country, city, latitude, longitude
		FROM login_events_by_time WHERE `+where+` LIMIT 1 BY tenant_id, id`, args...)
	if err != nil {
		return nil, err
	}
	tokens, err := queryRows(ctx, s, func(r driver.Rows) (Stored, error) {
		t := &detect.TokenUse{Action: event.TokenAuthenticated}
		var ms uint16
		err := r.Scan(&t.TenantID, &t.TokenID, &t.ID, &t.UserID, &t.IP, &t.At, &ms, &t.Country)
		t.At = t.At.UTC().Add(time.Duration(ms) * time.Millisecond)
		return Stored{At: t.At, Token: t}, err
	}, `SELECT tenant_id, token_id, id, user_id, ip_address, occurred_at, occurred_ms, country
		FROM token_events_by_time WHERE `+where+` AND event = 'authenticated' LIMIT 1 BY tenant_id, id`, args...)
	if err != nil {
		return nil, err
	}
	all := append(logins, tokens...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].At.Before(all[j].At) })
	return all, nil
}
