package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/enrich"
)

// Batch collects rows column by column, so an insert hands the driver whole
// columns instead of converting row after row. Not safe for concurrent use;
// Reset and reuse it.
type Batch struct {
	logins loginColumns
	tokens tokenColumns
	users  map[userKey]userRow
	// parts already inserted: a retry after a partial failure skips them
	loginsDone, tokensDone, usersDone bool
}

type userKey struct{ tenant, user string }

type userRow struct {
	name, email string
	seenAt      time.Time
}

type common struct {
	tenantID, id, userID, ip, userAgent []string
	occurredAt                          []time.Time
	occurredMs                          []uint16
	deviceType, browser, platform       []string
	country, city                       []string
	metadata                            []string
	ingestedAt                          []time.Time
}

type loginColumns struct {
	common
	status, failureReason, identifier []string
	latitude, longitude               []float64
	userName, userEmail               []string
}

type tokenColumns struct {
	common
	tokenID, tokenName, tokenType, environment, action []string
}

// NewBatch returns an empty batch sized for about n rows.
func NewBatch(n int) *Batch {
	b := &Batch{users: make(map[userKey]userRow)}
	b.logins.grow(n)
	b.tokens.grow(n / 2)
	return b
}

// Len is the number of event rows held.
func (b *Batch) Len() int { return len(b.logins.id) + len(b.tokens.id) }

// Logins and Tokens count the rows of each kind.
func (b *Batch) Logins() int { return len(b.logins.id) }
func (b *Batch) Tokens() int { return len(b.tokens.id) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	b.logins.reset()
	b.tokens.reset()
	clear(b.users)
	b.loginsDone, b.tokensDone, b.usersDone = false, false, false
}

// Add appends one valid event with its enrichment; now is the ingest time.
func (b *Batch) Add(ev *event.Event, r enrich.Result, now time.Time) {
	switch ev.Kind {
	case event.KindLogin:
		b.addLogin(ev, r, now)
	case event.KindToken:
		b.addToken(ev, r, now)
	}
}

func (c *common) add(ev *event.Event, r enrich.Result, now time.Time) {
	t := ev.OccurredAt.UTC()
	c.tenantID = append(c.tenantID, ev.TenantID)
	c.id = append(c.id, ev.ID)
	c.userID = append(c.userID, ev.UserID)
	c.ip = append(c.ip, ev.IPAddress)
	c.userAgent = append(c.userAgent, ev.UserAgent)
	c.occurredAt = append(c.occurredAt, t.Truncate(time.Second))
	c.occurredMs = append(c.occurredMs, uint16(t.Nanosecond()/int(time.Millisecond)))
	device := r.Type
	if device == "" { // the column is an enum: an empty value would fail the whole insert
		device = enrich.DeviceUnknown
	}
	c.deviceType = append(c.deviceType, device)
	c.browser = append(c.browser, r.Browser)
	c.platform = append(c.platform, r.Platform)
	c.country = append(c.country, r.Country)
	c.city = append(c.city, r.City)
	c.metadata = append(c.metadata, metadataJSON(ev.Metadata))
	c.ingestedAt = append(c.ingestedAt, now)
}

func (c *common) grow(n int) {
	*c = common{
		tenantID: make([]string, 0, n), id: make([]string, 0, n), userID: make([]string, 0, n),
		ip: make([]string, 0, n), userAgent: make([]string, 0, n), occurredAt: make([]time.Time, 0, n),
		occurredMs: make([]uint16, 0, n), deviceType: make([]string, 0, n), browser: make([]string, 0, n),
		platform: make([]string, 0, n), country: make([]string, 0, n), city: make([]string, 0, n),
		metadata: make([]string, 0, n), ingestedAt: make([]time.Time, 0, n),
	}
}

func (c *common) reset() {
	c.tenantID, c.id, c.userID, c.ip, c.userAgent = c.tenantID[:0], c.id[:0], c.userID[:0], c.ip[:0], c.userAgent[:0]
	c.occurredAt, c.occurredMs = c.occurredAt[:0], c.occurredMs[:0]
	c.deviceType, c.browser, c.platform = c.deviceType[:0], c.browser[:0], c.platform[:0]
	c.country, c.city, c.metadata, c.ingestedAt = c.country[:0], c.city[:0], c.metadata[:0], c.ingestedAt[:0]
}

// metadataJSON encodes metadata as a JSON object with sorted keys, as
// encoding/json would, without its reflection: this runs once per event.
// Decoded events hold valid UTF-8, so only quotes, backslashes and control
// characters need escaping.
func metadataJSON(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	var keysBuf [event.MaxMetadataKeys]string
	keys := keysBuf[:0]
	size := 2
	for k, v := range m {
		keys = append(keys, k)
		size += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	b = append(b, '}')
	return string(b)
}

func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func (b *Batch) addLogin(ev *event.Event, r enrich.Result, now time.Time) {
	l := &b.logins
	l.common.add(ev, r, now)
	l.status = append(l.status, string(ev.Status))
	l.failureReason = append(l.failureReason, ev.FailureReason)
	l.identifier = append(l.identifier, ev.Identifier)
	l.latitude = append(l.latitude, r.Latitude)
	l.longitude = append(l.longitude, r.Longitude)
	var name, email string
	if ev.User != nil {
		name, email = ev.User.Name, ev.User.Email
		if ev.UserID != "" && (name != "" || email != "") {
			k := userKey{ev.TenantID, ev.UserID}
			if cur, ok := b.users[k]; !ok || !ev.OccurredAt.Before(cur.seenAt) {
				b.users[k] = userRow{name: name, email: email, seenAt: ev.OccurredAt}
			}
		}
	}
	l.userName = append(l.userName, name)
	l.userEmail = append(l.userEmail, email)
}

func (l *loginColumns) grow(n int) {
	l.common.grow(n)
	l.status, l.failureReason, l.identifier = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	l.latitude, l.longitude = make([]float64, 0, n), make([]float64, 0, n)
	l.userName, l.userEmail = make([]string, 0, n), make([]string, 0, n)
}

func (l *loginColumns) reset() {
	l.common.reset()
	l.status, l.failureReason, l.identifier = l.status[:0], l.failureReason[:0], l.identifier[:0]
	l.latitude, l.longitude, l.userName, l.userEmail = l.latitude[:0], l.longitude[:0], l.userName[:0], l.userEmail[:0]
}

func (b *Batch) addToken(ev *event.Event, r enrich.Result, now time.Time) {
	t := &b.tokens
	t.common.add(ev, r, now)
	t.tokenID = append(t.tokenID, ev.TokenID)
	t.tokenName = append(t.tokenName, ev.TokenName)
	t.tokenType = append(t.tokenType, string(ev.TokenType))
	t.environment = append(t.environment, string(ev.Environment))
	t.action = append(t.action, string(ev.Action))
}

func (t *tokenColumns) grow(n int) {
	t.common.grow(n)
	t.tokenID, t.tokenName, t.tokenType = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	t.environment, t.action = make([]string, 0, n), make([]string, 0, n)
}

func (t *tokenColumns) reset() {
	t.common.reset()
	t.tokenID, t.tokenName, t.tokenType, t.environment, t.action = t.tokenID[:0], t.tokenName[:0], t.tokenType[:0], t.environment[:0], t.action[:0]
}

const insertLogins = `INSERT INTO login_events (tenant_id, user_id, occurred_at, occurred_ms, id, status,
	failure_reason, identifier, ip_address, user_agent, device_type, browser, platform, country, city,
	latitude, longitude, user_name, user_email, metadata, ingested_at)`

const insertTokens = `INSERT INTO token_events (tenant_id, token_id, occurred_at, occurred_ms, id, user_id,
	token_name, token_type, environment, event, ip_address, user_agent, device_type, browser, platform,
	country, city, metadata, ingested_at)`

const insertUsers = `INSERT INTO users (tenant_id, user_id, name, email, seen_at)`

// Insert writes the batch: login rows, token rows, then user profiles, each
// as one native block. Parts that went in are remembered, so calling Insert
// again after an error retries only what is missing.
func (s *Store) Insert(ctx context.Context, b *Batch) error {
	if !b.loginsDone && len(b.logins.id) > 0 {
		l := &b.logins
		cols := []any{l.tenantID, l.userID, l.occurredAt, l.occurredMs, l.id, l.status, l.failureReason,
			l.identifier, l.ip, l.userAgent, l.deviceType, l.browser, l.platform, l.country, l.city,
			l.latitude, l.longitude, l.userName, l.userEmail, l.metadata, l.ingestedAt}
		if err := s.insertColumns(ctx, insertLogins, cols); err != nil {
			return fmt.Errorf("insert login_events: %w", err)
		}
	}
	b.loginsDone = true
	if !b.tokensDone && len(b.tokens.id) > 0 {
		t := &b.tokens
		cols := []any{t.tenantID, t.tokenID, t.occurredAt, t.occurredMs, t.id, t.userID, t.tokenName,
			t.tokenType, t.environment, t.action, t.ip, t.userAgent, t.deviceType, t.browser, t.platform,
			t.country, t.city, t.metadata, t.ingestedAt}
		if err := s.insertColumns(ctx, insertTokens, cols); err != nil {
			return fmt.Errorf("insert token_events: %w", err)
		}
	}
	b.tokensDone = true
	if !b.usersDone && len(b.users) > 0 {
		n := len(b.users)
		tenants, ids, names, emails := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		seen := make([]time.Time, 0, n)
		for k, u := range b.users {
			tenants, ids, names, emails = append(tenants, k.tenant), append(ids, k.user), append(names, u.name), append(emails, u.email)
			seen = append(seen, u.seenAt.UTC().Truncate(time.Second))
		}
		if err := s.insertColumns(ctx, insertUsers, []any{tenants, ids, names, emails, seen}); err != nil {
			return fmt.Errorf("insert users: %w", err)
		}
	}
	b.usersDone = true
	return nil
}

func (s *Store) insertColumns(ctx context.Context, query string, cols []any) error {
	batch, err := s.conn.PrepareBatch(ctx, query)
	if err != nil {
		return err
	}
	defer batch.Abort() //nolint:errcheck // no-op once sent
	for i, col := range cols {
		if err := batch.Column(i).Append(col); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return batch.Send()
}
