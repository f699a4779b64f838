package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func validLogin() *Event {
	return &Event{
		ID:         "01JG4ZK8V3Q9X6T2M5N7P0R1S8",
		Kind:       KindLogin,
		TenantID:   "acme",
		UserID:     "usr_8f3a2c",
		OccurredAt: time.Date(2025, 12, 27, 20, 57, 29, 123e6, time.UTC),
		IPAddress:  "203.0.113.42",
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		Metadata:   map[string]string{"session_id": "sess_4b1e9f"},
		Status:     StatusSuccess,
		User:       &UserProfile{Name: "Jane Doe", Email: "jane@example.com"},
	}
}

func validToken() *Event {
	return &Event{
		ID:          "9b2f6d0e-5c1a-4e8b-a3f7-2d9c8e1b4a60",
		Kind:        KindToken,
		TenantID:    "acme",
		UserID:      "usr_8f3a2c",
		OccurredAt:  time.Date(2025, 12, 27, 21, 3, 11, 0, time.UTC),
		IPAddress:   "2001:db8::1",
		TokenID:     "tok_live_4eC39HqLyjWDarjtT1zdp7dc",
		TokenName:   "CI deploy key",
		TokenType:   TokenSecret,
		Environment: EnvLive,
		Action:      TokenAuthenticated,
	}
}

func TestValidate(t *testing.T) {
	login := func(change func(e *Event)) *Event { e := validLogin(); change(e); return e }
	token := func(change func(e *Event)) *Event { e := validToken(); change(e); return e }
	manyKeys := func(n int) map[string]string {
		m := make(map[string]string, n)
		for i := range n {
			m[fmt.Sprintf("k%02d", i)] = "v"
		}
		return m
	}
	plus1 := time.FixedZone("+01:00", 3600)
	minus1 := time.FixedZone("-01:00", -3600)

	tests := []struct {
		name  string
		event *Event
		field string // "" for a valid event
	}{
		{"login", validLogin(), ""},
		{"token", validToken(), ""},

		// id and tenant_id
		{"id missing", login(func(e *Event) { e.ID = "" }), "id"},
		{"id 64 characters", login(func(e *Event) { e.ID = strings.Repeat("a", 64) }), ""},
		{"id 65 characters", login(func(e *Event) { e.ID = strings.Repeat("a", 65) }), "id"},
		{"id all allowed characters", login(func(e *Event) { e.ID = "AZaz09_-" }), ""},
		{"id with a dot", login(func(e *Event) { e.ID = "a.b" }), "id"},
		{"id with a space", login(func(e *Event) { e.ID = "a b" }), "id"},
		{"id not ASCII", login(func(e *Event) { e.ID = "é" }), "id"},
		{"tenant missing", login(func(e *Event) { e.TenantID = "" }), "tenant_id"},
		{"tenant 65 characters", login(func(e *Event) { e.TenantID = strings.Repeat("t", 65) }), "tenant_id"},
		{"tenant with a wildcard", login(func(e *Event) { e.TenantID = "*" }), "tenant_id"},

		// kind
		{"kind missing", login(func(e *Event) { e.Kind = "" }), "kind"},
		{"kind unknown", login(func(e *Event) { e.Kind = "logout" }), "kind"},

		// user_id
		{"user_id missing on success", login(func(e *Event) { e.UserID = "" }), "user_id"},
		{"user_id missing on blocked", login(func(e *Event) { e.UserID = ""; e.Status = StatusBlocked }), "user_id"},
		{"user_id missing on 2fa_failed", login(func(e *Event) { e.UserID = ""; e.Status = Status2FAFailed }), "user_id"},
		{"user_id missing on failed", login(func(e *Event) { e.UserID = ""; e.Status = StatusFailed; e.Identifier = "root" }), ""},
		{"user_id missing on token", token(func(e *Event) { e.UserID = "" }), "user_id"},
		{"user_id 128 characters", login(func(e *Event) { e.UserID = strings.Repeat("é", 128) }), ""},
		{"user_id 129 characters", login(func(e *Event) { e.UserID = strings.Repeat("é", 129) }), "user_id"},
		{"user_id with NUL", login(func(e *Event) { e.UserID = "u\x00" }), "user_id"},
		{"user_id not UTF-8", login(func(e *Event) { e.UserID = "u\xff" }), "user_id"},

		// occurred_at
		{"occurred_at missing", login(func(e *Event) { e.OccurredAt = time.Time{} }), "occurred_at"},
		{"occurred_at at the epoch", login(func(e *Event) { e.OccurredAt = time.Unix(0, 0) }), ""},
		{"occurred_at before the epoch", login(func(e *Event) { e.OccurredAt = time.Unix(-1, 0) }), "occurred_at"},
		{"occurred_at last moment of 2099", login(func(e *Event) { e.OccurredAt = endTime.Add(-1) }), ""},
		{"occurred_at in 2100", login(func(e *Event) { e.OccurredAt = endTime }), "occurred_at"},
		{"occurred_at 1970 written, 1969 in UTC", login(func(e *Event) { e.OccurredAt = time.Date(1970, 1, 1, 0, 30, 0, 0, plus1) }), "occurred_at"},
		{"occurred_at 1969 written, 1970 in UTC", login(func(e *Event) { e.OccurredAt = time.Date(1969, 12, 31, 23, 30, 0, 0, minus1) }), "occurred_at"},
		{"occurred_at 2099 written, 2100 in UTC", login(func(e *Event) { e.OccurredAt = time.Date(2099, 12, 31, 23, 30, 0, 0, minus1) }), "occurred_at"},
		{"occurred_at in a named zone", login(func(e *Event) { e.OccurredAt = e.OccurredAt.In(plus1) }), ""},
		{"occurred_at offset with seconds", login(func(e *Event) { e.OccurredAt = e.OccurredAt.In(time.FixedZone("LMT", 1172)) }), "occurred_at"},

		// ip_address
		{"ip missing", login(func(e *Event) { e.IPAddress = "" }), "ip_address"},
		{"ip v4 octet 999", login(func(e *Event) { e.IPAddress = "999.1.1.1" }), "ip_address"},
		{"ip v6", login(func(e *Event) { e.IPAddress = "2001:db8::8a2e:370:7334" }), ""},
		{"ip v6 not canonical", login(func(e *Event) { e.IPAddress = "2001:DB8:0:0::1" }), ""},
		{"ip v4-mapped v6", login(func(e *Event) { e.IPAddress = "::ffff:192.0.2.1" }), ""},
		{"ip with zone", login(func(e *Event) { e.IPAddress = "fe80::1%eth0" }), "ip_address"},
		{"ip with port", login(func(e *Event) { e.IPAddress = "192.0.2.1:80" }), "ip_address"},
		{"ip hostname", login(func(e *Event) { e.IPAddress = "example.com" }), "ip_address"},

		// user_agent
		{"user_agent absent", login(func(e *Event) { e.UserAgent = "" }), ""},
		{"user_agent longer than 1024 bytes", login(func(e *Event) { e.UserAgent = strings.Repeat("u", 5000) }), ""},
		{"user_agent with NUL", login(func(e *Event) { e.UserAgent = "a\x00b" }), "user_agent"},
		{"user_agent not UTF-8", login(func(e *Event) { e.UserAgent = "\xc0\xaf" }), "user_agent"},

		// metadata
		{"metadata absent", login(func(e *Event) { e.Metadata = nil }), ""},
		{"metadata 32 keys", login(func(e *Event) { e.Metadata = manyKeys(32) }), ""},
		{"metadata 33 keys", login(func(e *Event) { e.Metadata = manyKeys(33) }), "metadata"},
		{"metadata 4096 bytes", login(func(e *Event) { e.Metadata = map[string]string{"k": strings.Repeat("v", 4095)} }), ""},
		{"metadata 4097 bytes", login(func(e *Event) { e.Metadata = map[string]string{"k": strings.Repeat("v", 4096)} }), "metadata"},
		{"metadata empty key", login(func(e *Event) { e.Metadata = map[string]string{"": "v"} }), ""},
		{"metadata NUL in key", login(func(e *Event) { e.Metadata = map[string]string{"k\x00": "v"} }), "metadata"},
		{"metadata NUL in value", login(func(e *Event) { e.Metadata = map[string]string{"k": "\x00"} }), "metadata"},
		{"metadata value not UTF-8", login(func(e *Event) { e.Metadata = map[string]string{"k": "\xff"} }), "metadata"},

		// login fields
		{"status missing", login(func(e *Event) { e.Status = "" }), "status"},
		{"status unknown", login(func(e *Event) { e.Status = "ok" }), "status"},
		{"status failed", login(func(e *Event) { e.Status = StatusFailed }), ""},
		{"status blocked", login(func(e *Event) { e.Status = StatusBlocked }), ""},
		{"status 2fa_required", login(func(e *Event) { e.Status = Status2FARequired }), ""},
		{"status 2fa_failed", login(func(e *Event) { e.Status = Status2FAFailed }), ""},
		{"failure_reason 1024 characters", login(func(e *Event) { e.FailureReason = strings.Repeat("ř", 1024) }), ""},
		{"failure_reason 1025 characters", login(func(e *Event) { e.FailureReason = strings.Repeat("ř", 1025) }), "failure_reason"},
		{"identifier 256 characters", login(func(e *Event) { e.Identifier = strings.Repeat("i", 256) }), ""},
		{"identifier 257 characters", login(func(e *Event) { e.Identifier = strings.Repeat("i", 257) }), "identifier"},
		{"identifier with NUL", login(func(e *Event) { e.Identifier = "admin\x00x" }), "identifier"},
		{"user absent", login(func(e *Event) { e.User = nil }), ""},
		{"user empty", login(func(e *Event) { e.User = &UserProfile{} }), ""},
		{"user.name 257 characters", login(func(e *Event) { e.User.Name = strings.Repeat("名", 257) }), "user.name"},
		{"user.email 257 characters", login(func(e *Event) { e.User.Email = strings.Repeat("e", 257) }), "user.email"},
		{"login with token_id", login(func(e *Event) { e.TokenID = "t" }), "token_id"},
		{"login with event", login(func(e *Event) { e.Action = TokenCreated }), "event"},

		// token fields
		{"token_id missing", token(func(e *Event) { e.TokenID = "" }), "token_id"},
		{"token_id 128 characters", token(func(e *Event) { e.TokenID = strings.Repeat("t", 128) }), ""},
		{"token_id 129 characters", token(func(e *Event) { e.TokenID = strings.Repeat("t", 129) }), "token_id"},
		{"token_name absent", token(func(e *Event) { e.TokenName = "" }), ""},
		{"token_name 257 characters", token(func(e *Event) { e.TokenName = strings.Repeat("n", 257) }), "token_name"},
		{"token_type missing", token(func(e *Event) { e.TokenType = "" }), "token_type"},
		{"token_type unknown", token(func(e *Event) { e.TokenType = "xk" }), "token_type"},
		{"token_type pk", token(func(e *Event) { e.TokenType = TokenPublishable }), ""},
		{"token_type rk", token(func(e *Event) { e.TokenType = TokenRestricted }), ""},
		{"environment missing", token(func(e *Event) { e.Environment = "" }), "environment"},
		{"environment unknown", token(func(e *Event) { e.Environment = "prod" }), "environment"},
		{"environment test", token(func(e *Event) { e.Environment = EnvTest }), ""},
		{"event missing", token(func(e *Event) { e.Action = "" }), "event"},
		{"event unknown", token(func(e *Event) { e.Action = "used" }), "event"},
		{"token with status", token(func(e *Event) { e.Status = StatusSuccess }), "status"},
		{"token with user", token(func(e *Event) { e.User = &UserProfile{Name: "x"} }), "user"},
	}
	for _, action := range TokenActions {
		tests = append(tests, struct {
			name  string
			event *Event
			field string
		}{"event " + string(action), token(func(e *Event) { e.Action = action }), ""})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.event.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				// What Validate accepts, client.Publisher marshals and
				// sends; Decode must accept it in turn.
				data, err := json.Marshal(tt.event)
				if err != nil {
					t.Fatalf("json.Marshal: %v", err)
				}
				if _, err := Decode(Subject(tt.event.TenantID, tt.event.Kind), data); err != nil {
					t.Errorf("Decode of the marshalled event: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate() = %v, want an *Error on %s", err, tt.field)
			}
			if e.Reason != ReasonInvalid || e.Field != tt.field {
				t.Errorf("Validate() = reason %q field %q (%v), want reason %q field %q", e.Reason, e.Field, err, ReasonInvalid, tt.field)
			}
			checkMessage(t, err)
		})
	}
}

// checkMessage checks the promise made for the DLQ header: one line, at
// most 300 bytes, valid UTF-8 (the value echoes are cut at rune boundaries).
func checkMessage(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if len(msg) > maxMessageBytes || strings.ContainsAny(msg, "\r\n\x00") || !utf8.ValidString(msg) {
		t.Errorf("message is not one short line of text: %d bytes %q", len(msg), msg)
	}
}

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{
		"acme": true, "Tenant_1-x": true, strings.Repeat("a", 64): true,
		"": false, strings.Repeat("a", 65): false, "a.b": false, "*": false, "a>": false, "é": false, "a b": false,
	} {
		if got := ValidID(s); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", s, got, want)
		}
	}
}
