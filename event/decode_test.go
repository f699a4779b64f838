package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const (
	loginSubject = "auth.events.acme.login"
	tokenSubject = "auth.events.acme.token"
)

func loginFields() map[string]any {
	return map[string]any{
		"id":          "01JG4ZK8V3Q9X6T2M5N7P0R1S8",
		"kind":        "login",
		"tenant_id":   "acme",
		"user_id":     "usr_8f3a2c",
		"occurred_at": "2025-12-27T20:57:29.123Z",
		"ip_address":  "203.0.113.42",
		"user_agent":  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"status":      "success",
		"metadata":    map[string]any{"session_id": "sess_4b1e9f", "auth_method": "password"},
		"user":        map[string]any{"name": "Jane Doe", "email": "jane@example.com"},
	}
}

func tokenFields() map[string]any {
	return map[string]any{
		"id":          "9b2f6d0e-5c1a-4e8b-a3f7-2d9c8e1b4a60",
		"kind":        "token",
		"tenant_id":   "acme",
		"user_id":     "usr_8f3a2c",
		"occurred_at": "2025-12-27T21:03:11Z",
		"ip_address":  "198.51.100.7",
		"token_id":    "tok_live_4eC39HqLyjWDarjtT1zdp7dc",
		"token_name":  "CI deploy key",
		"token_type":  "sk",
		"environment": "live",
		"event":       "authenticated",
	}
}

// absent, as a value in a change, deletes the field.
var absent = &struct{}{}

// payload marshals fields with changes applied.
func payload(fields map[string]any, changes map[string]any) []byte {
	for k, v := range changes {
		if v == absent {
			delete(fields, k)
		} else {
			fields[k] = v
		}
	}
	data, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	return data
}

func login(changes map[string]any) []byte { return payload(loginFields(), changes) }
func token(changes map[string]any) []byte { return payload(tokenFields(), changes) }

// withRaw appends raw members to a JSON object.
func withRaw(data []byte, members string) []byte {
	return []byte(string(data[:len(data)-1]) + "," + members + "}")
}

func TestDecodeAccepts(t *testing.T) {
	longUA := "Mozilla/5.0" + strings.Repeat("ü", 600) // 11 + 1200 bytes: the cut falls inside a "ü"
	tests := []struct {
		name    string
		subject string
		data    []byte
		check   func(t *testing.T, e *Event)
	}{
		{"login", loginSubject, login(nil), func(t *testing.T, e *Event) {
			want := &Event{
				ID: "01JG4ZK8V3Q9X6T2M5N7P0R1S8", Kind: KindLogin, TenantID: "acme", UserID: "usr_8f3a2c",
				OccurredAt: time.Date(2025, 12, 27, 20, 57, 29, 123e6, time.UTC),
				IPAddress:  "203.0.113.42",
				UserAgent:  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
				Metadata:   map[string]string{"session_id": "sess_4b1e9f", "auth_method": "password"},
				Status:     StatusSuccess,
				User:       &UserProfile{Name: "Jane Doe", Email: "jane@example.com"},
			}
			if !reflect.DeepEqual(e, want) {
				t.Errorf("got %+v\nwant %+v", e, want)
			}
		}},
		{"token", tokenSubject, token(nil), func(t *testing.T, e *Event) {
			want := &Event{
				ID: "9b2f6d0e-5c1a-4e8b-a3f7-2d9c8e1b4a60", Kind: KindToken, TenantID: "acme", UserID: "usr_8f3a2c",
				OccurredAt: time.Date(2025, 12, 27, 21, 3, 11, 0, time.UTC),
				IPAddress:  "198.51.100.7",
				TokenID:    "tok_live_4eC39HqLyjWDarjtT1zdp7dc", TokenName: "CI deploy key",
				TokenType: TokenSecret, Environment: EnvLive, Action: TokenAuthenticated,
			}
			if !reflect.DeepEqual(e, want) {
				t.Errorf("got %+v\nwant %+v", e, want)
			}
		}},
		{"failed login without user_id", loginSubject, login(map[string]any{"user_id": absent, "status": "failed", "identifier": "root"}), func(t *testing.T, e *Event) {
			if e.UserID != "" || e.Identifier != "root" {
				t.Errorf("user_id %q identifier %q", e.UserID, e.Identifier)
			}
		}},
		{"failed login with null user_id", loginSubject, login(map[string]any{"user_id": nil, "status": "failed"}), nil},
		{"nulls for optional fields", loginSubject, login(map[string]any{"user_agent": nil, "metadata": nil, "user": nil, "failure_reason": nil, "identifier": nil}), func(t *testing.T, e *Event) {
			if e.UserAgent != "" || e.Metadata != nil || e.User != nil || e.FailureReason != "" || e.Identifier != "" {
				t.Errorf("null fields not absent: %+v", e)
			}
		}},
		{"nulls inside user", loginSubject, login(map[string]any{"user": map[string]any{"name": nil, "email": "a@b"}}), func(t *testing.T, e *Event) {
			if e.User == nil || *e.User != (UserProfile{Email: "a@b"}) {
				t.Errorf("user = %+v", e.User)
			}
		}},
		{"empty user and metadata are absent", loginSubject, login(map[string]any{"user": map[string]any{}, "metadata": map[string]any{}}), func(t *testing.T, e *Event) {
			if e.User != nil || e.Metadata != nil {
				t.Errorf("user %+v metadata %+v", e.User, e.Metadata)
			}
		}},
		{"unknown fields are ignored", loginSubject, withRaw(login(nil), `"v":2,"geo":{"a":[1,-2.5e+3,true,false,null,{"b":"\u0000"}]},"x":[]`), nil},
		{"repeated unknown fields are ignored", loginSubject, withRaw(login(nil), `"x":1,"x":2`), nil},
		{"token fields on a login are ignored", loginSubject, login(map[string]any{"token_id": 5, "event": "nonsense"}), func(t *testing.T, e *Event) {
			if e.TokenID != "" || e.Action != "" {
				t.Errorf("token fields kept: %+v", e)
			}
		}},
		{"login fields on a token are ignored", tokenSubject, token(map[string]any{"status": true, "user": "x"}), func(t *testing.T, e *Event) {
			if e.Status != "" || e.User != nil {
				t.Errorf("login fields kept: %+v", e)
			}
		}},
		{"occurred_at converted to UTC", loginSubject, login(map[string]any{"occurred_at": "2025-12-28T02:27:29.5+05:30"}), func(t *testing.T, e *Event) {
			if want := time.Date(2025, 12, 27, 20, 57, 29, 5e8, time.UTC); !e.OccurredAt.Equal(want) || e.OccurredAt.Location() != time.UTC {
				t.Errorf("occurred_at = %v, want %v", e.OccurredAt, want)
			}
		}},
		{"occurred_at lower-case t and z", loginSubject, login(map[string]any{"occurred_at": "2025-12-27t20:57:29z"}), nil},
		{"occurred_at nanoseconds", loginSubject, login(map[string]any{"occurred_at": "2025-12-27T20:57:29.000000001Z"}), func(t *testing.T, e *Event) {
			if e.OccurredAt.Nanosecond() != 1 {
				t.Errorf("occurred_at = %v", e.OccurredAt)
			}
		}},
		{"ip_address made canonical", loginSubject, login(map[string]any{"ip_address": "2001:DB8:0:0:0:0:0:1"}), func(t *testing.T, e *Event) {
			if e.IPAddress != "2001:db8::1" {
				t.Errorf("ip_address = %q", e.IPAddress)
			}
		}},
		{"ip_address v4-mapped made v4", loginSubject, login(map[string]any{"ip_address": "::ffff:192.0.2.128"}), func(t *testing.T, e *Event) {
			if e.IPAddress != "192.0.2.128" {
				t.Errorf("ip_address = %q", e.IPAddress)
			}
		}},
		{"user_agent cut to 1024 bytes at a character", loginSubject, login(map[string]any{"user_agent": longUA}), func(t *testing.T, e *Event) {
			if len(e.UserAgent) != 1023 || !utf8.ValidString(e.UserAgent) || !strings.HasPrefix(longUA, e.UserAgent) {
				t.Errorf("user_agent is %d bytes, valid %v", len(e.UserAgent), utf8.ValidString(e.UserAgent))
			}
		}},
		{"user_agent of 1024 bytes kept", loginSubject, login(map[string]any{"user_agent": strings.Repeat("x", 1024)}), func(t *testing.T, e *Event) {
			if len(e.UserAgent) != 1024 {
				t.Errorf("user_agent is %d bytes", len(e.UserAgent))
			}
		}},
		{"escapes", loginSubject, login(map[string]any{"identifier": "tab\t \"q\" \\ / é 😀 \u2028"}), func(t *testing.T, e *Event) {
			if e.Identifier != "tab\t \"q\" \\ / é 😀 \u2028" {
				t.Errorf("identifier = %q", e.Identifier)
			}
		}},
		{"escaped surrogate pair", loginSubject, withRaw(login(map[string]any{"identifier": absent}), `"identifier":"\ud83d\ude00\u00e9\/"`), func(t *testing.T, e *Event) {
			if e.Identifier != "😀é/" {
				t.Errorf("identifier = %q", e.Identifier)
			}
		}},
		{"escaped key", loginSubject, []byte(`{"\u0069d":"x","kind":"login","tenant_id":"acme","user_id":"u","occurred_at":"2025-01-01T00:00:00Z","ip_address":"::1","status":"success"}`), func(t *testing.T, e *Event) {
			if e.ID != "x" {
				t.Errorf("id = %q", e.ID)
			}
		}},
		{"white space everywhere", loginSubject, []byte(" \t\r\n{ \"id\" : \"x\" , \"kind\":\"login\",\n\"tenant_id\":\"acme\",\"user_id\":\"u\",\"occurred_at\":\"2025-01-01T00:00:00Z\",\"ip_address\":\"::1\",\"status\":\"success\" } \n"), nil},
		{"payload of exactly 16 KiB", loginSubject, padTo(login(nil), MaxPayloadBytes), nil},
		{"metadata of exactly 4 KiB", loginSubject, login(map[string]any{"metadata": map[string]any{"k": strings.Repeat("v", 4095)}}), nil},
		{"metadata empty key", loginSubject, login(map[string]any{"metadata": map[string]any{"": "v"}}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode(tt.subject, tt.data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if err := e.Validate(); err != nil {
				t.Errorf("Validate of a decoded event: %v", err)
			}
			if tt.check != nil {
				tt.check(t, e)
			}
		})
	}
}

// padTo pads a JSON object with white space to n bytes.
func padTo(data []byte, n int) []byte {
	return append(data, strings.Repeat(" ", n-len(data))...)
}

func TestDecodeRejects(t *testing.T) {
	manyKeys := func(n int) map[string]any {
		m := make(map[string]any, n)
		for i := range n {
			m[fmt.Sprintf("k%02d", i)] = "v"
		}
		return m
	}
	base := login(nil)
	tests := []struct {
		name    string
		subject string
		data    []byte
		reason  string
		field   string
	}{
		// The payload as a whole.
		{"over 16 KiB", loginSubject, padTo(login(nil), MaxPayloadBytes+1), ReasonOversize, ""},
		{"empty", loginSubject, []byte(""), ReasonNotJSON, ""},
		{"white space", loginSubject, []byte(" \n"), ReasonNotJSON, ""},
		{"text", loginSubject, []byte("login ok"), ReasonNotJSON, ""},
		{"array", loginSubject, []byte("[" + string(base) + "]"), ReasonNotJSON, ""},
		{"string", loginSubject, []byte(`"x"`), ReasonNotJSON, ""},
		{"null", loginSubject, []byte(`null`), ReasonNotJSON, ""},
		{"truncated", loginSubject, base[:len(base)-1], ReasonNotJSON, ""},
		{"two objects", loginSubject, append(append([]byte{}, base...), base...), ReasonNotJSON, ""},
		{"trailing comma", loginSubject, []byte(`{"id":"a",}`), ReasonNotJSON, ""},
		{"missing colon", loginSubject, []byte(`{"id" "a"}`), ReasonNotJSON, ""},
		{"unquoted key", loginSubject, []byte(`{id:"a"}`), ReasonNotJSON, ""},
		{"invalid UTF-8", loginSubject, withRaw(base, "\"x\":\"\xff\""), ReasonNotJSON, ""},
		{"invalid UTF-8 in a key", loginSubject, withRaw(base, "\"\xff\":1"), ReasonNotJSON, ""},
		{"raw control character", loginSubject, withRaw(base, "\"x\":\"a\tb\""), ReasonNotJSON, ""},
		{"raw NUL", loginSubject, withRaw(base, "\"x\":\"a\x00b\""), ReasonNotJSON, ""},
		{"unknown escape", loginSubject, withRaw(base, `"x":"\a"`), ReasonNotJSON, ""},
		{"short \\u escape", loginSubject, withRaw(base, `"x":"\u12"`), ReasonNotJSON, ""},
		{"lone high surrogate", loginSubject, withRaw(base, `"x":"\ud800"`), ReasonNotJSON, ""},
		{"high surrogate then a letter", loginSubject, withRaw(base, `"x":"\ud800\u0041"`), ReasonNotJSON, ""},
		{"lone low surrogate", loginSubject, withRaw(base, `"x":"\udc00"`), ReasonNotJSON, ""},
		{"NaN", loginSubject, withRaw(base, `"x":NaN`), ReasonNotJSON, ""},
		{"leading zero", loginSubject, withRaw(base, `"x":01`), ReasonNotJSON, ""},
		{"plus sign", loginSubject, withRaw(base, `"x":+1`), ReasonNotJSON, ""},
		{"bare fraction", loginSubject, withRaw(base, `"x":1.`), ReasonNotJSON, ""},
		{"bad literal", loginSubject, withRaw(base, `"x":nul`), ReasonNotJSON, ""},
		{"unclosed array", loginSubject, withRaw(base, `"x":[1,2`), ReasonNotJSON, ""},
		{"mismatched brackets", loginSubject, withRaw(base, `"x":[1}`), ReasonNotJSON, ""},
		{"not JSON wins over a bad field", loginSubject, withRaw(login(map[string]any{"id": 5}), `"x":]`), ReasonNotJSON, ""},

		// Fields.
		{"id missing", loginSubject, login(map[string]any{"id": absent}), ReasonInvalid, "id"},
		{"id null", loginSubject, login(map[string]any{"id": nil}), ReasonInvalid, "id"},
		{"id number", loginSubject, login(map[string]any{"id": 5}), ReasonInvalid, "id"},
		{"id bad character", loginSubject, login(map[string]any{"id": "a/b"}), ReasonInvalid, "id"},
		{"id repeated", loginSubject, withRaw(base, `"id":"other"`), ReasonInvalid, "id"},
		{"kind missing", loginSubject, login(map[string]any{"kind": absent}), ReasonInvalid, "kind"},
		{"kind unknown", loginSubject, login(map[string]any{"kind": "logout"}), ReasonInvalid, "kind"},
		{"kind array", loginSubject, login(map[string]any{"kind": []string{"login"}}), ReasonInvalid, "kind"},
		{"tenant_id bad character", loginSubject, login(map[string]any{"tenant_id": "a b"}), ReasonInvalid, "tenant_id"},
		{"user_id missing on success", loginSubject, login(map[string]any{"user_id": absent}), ReasonInvalid, "user_id"},
		{"user_id null on success", loginSubject, login(map[string]any{"user_id": nil}), ReasonInvalid, "user_id"},
		{"user_id empty", loginSubject, login(map[string]any{"user_id": ""}), ReasonInvalid, "user_id"},
		{"user_id empty on failed", loginSubject, login(map[string]any{"user_id": "", "status": "failed"}), ReasonInvalid, "user_id"},
		{"user_id too long", loginSubject, login(map[string]any{"user_id": strings.Repeat("é", 129)}), ReasonInvalid, "user_id"},
		{"user_id escaped NUL", loginSubject, login(map[string]any{"user_id": "u\x00"}), ReasonInvalid, "user_id"},
		{"occurred_at missing", loginSubject, login(map[string]any{"occurred_at": absent}), ReasonInvalid, "occurred_at"},
		{"occurred_at number", loginSubject, login(map[string]any{"occurred_at": 1766869049}), ReasonInvalid, "occurred_at"},
		{"occurred_at without zone", loginSubject, login(map[string]any{"occurred_at": "2025-12-27T20:57:29"}), ReasonInvalid, "occurred_at"},
		{"occurred_at February 30", loginSubject, login(map[string]any{"occurred_at": "2025-02-30T00:00:00Z"}), ReasonInvalid, "occurred_at"},
		{"occurred_at leap second", loginSubject, login(map[string]any{"occurred_at": "2016-12-31T23:59:60Z"}), ReasonInvalid, "occurred_at"},
		{"occurred_at 10 fraction digits", loginSubject, login(map[string]any{"occurred_at": "2025-12-27T20:57:29.0123456789Z"}), ReasonInvalid, "occurred_at"},
		{"occurred_at 1969", loginSubject, login(map[string]any{"occurred_at": "1969-12-31T23:59:59Z"}), ReasonInvalid, "occurred_at"},
		{"occurred_at 1969 written, 1970 in UTC", loginSubject, login(map[string]any{"occurred_at": "1969-12-31T23:30:00-01:00"}), ReasonInvalid, "occurred_at"},
		{"occurred_at 1970 written, 1969 in UTC", loginSubject, login(map[string]any{"occurred_at": "1970-01-01T00:30:00+01:00"}), ReasonInvalid, "occurred_at"},
		{"occurred_at 2100", loginSubject, login(map[string]any{"occurred_at": "2100-01-01T00:00:00Z"}), ReasonInvalid, "occurred_at"},
		{"ip_address missing", loginSubject, login(map[string]any{"ip_address": absent}), ReasonInvalid, "ip_address"},
		{"ip_address octet 999", loginSubject, login(map[string]any{"ip_address": "999.1.1.1"}), ReasonInvalid, "ip_address"},
		{"ip_address with zone", loginSubject, login(map[string]any{"ip_address": "fe80::1%eth0"}), ReasonInvalid, "ip_address"},
		{"user_agent number", loginSubject, login(map[string]any{"user_agent": 5}), ReasonInvalid, "user_agent"},
		{"user_agent NUL", loginSubject, login(map[string]any{"user_agent": "a\x00"}), ReasonInvalid, "user_agent"},
		{"user_agent NUL past the cut", loginSubject, login(map[string]any{"user_agent": strings.Repeat("a", 2000) + "\x00"}), ReasonInvalid, "user_agent"},
		{"metadata 33 keys", loginSubject, login(map[string]any{"metadata": manyKeys(33)}), ReasonInvalid, "metadata"},
		{"metadata 1000 keys", loginSubject, login(map[string]any{"metadata": manyKeys(1000)}), ReasonInvalid, "metadata"},
		{"metadata over 4 KiB", loginSubject, login(map[string]any{"metadata": map[string]any{"k": strings.Repeat("v", 4096)}}), ReasonInvalid, "metadata"},
		{"metadata nested object", loginSubject, login(map[string]any{"metadata": map[string]any{"geo": map[string]any{}}}), ReasonInvalid, "metadata"},
		{"metadata number value", loginSubject, login(map[string]any{"metadata": map[string]any{"n": 1}}), ReasonInvalid, "metadata"},
		{"metadata null value", loginSubject, login(map[string]any{"metadata": map[string]any{"n": nil}}), ReasonInvalid, "metadata"},
		{"metadata array", loginSubject, login(map[string]any{"metadata": []string{"a"}}), ReasonInvalid, "metadata"},
		{"metadata repeated key", loginSubject, withRaw(login(map[string]any{"metadata": absent}), `"metadata":{"k":"1","k":"2"}`), ReasonInvalid, "metadata"},
		{"metadata NUL in key", loginSubject, login(map[string]any{"metadata": map[string]any{"k\x00": "v"}}), ReasonInvalid, "metadata"},
		{"status missing", loginSubject, login(map[string]any{"status": absent}), ReasonInvalid, "status"},
		{"status unknown", loginSubject, login(map[string]any{"status": "ok"}), ReasonInvalid, "status"},
		{"status boolean", loginSubject, login(map[string]any{"status": true}), ReasonInvalid, "status"},
		{"failure_reason too long", loginSubject, login(map[string]any{"failure_reason": strings.Repeat("ř", 1025)}), ReasonInvalid, "failure_reason"},
		{"identifier too long", loginSubject, login(map[string]any{"identifier": strings.Repeat("i", 257)}), ReasonInvalid, "identifier"},
		{"user string", loginSubject, login(map[string]any{"user": "Jane"}), ReasonInvalid, "user"},
		{"user.name number", loginSubject, login(map[string]any{"user": map[string]any{"name": 1}}), ReasonInvalid, "user.name"},
		{"user.email too long", loginSubject, login(map[string]any{"user": map[string]any{"email": strings.Repeat("e", 257)}}), ReasonInvalid, "user.email"},
		{"user.name repeated", loginSubject, withRaw(login(map[string]any{"user": absent}), `"user":{"name":"a","name":"b"}`), ReasonInvalid, "user.name"},
		{"token_id missing", tokenSubject, token(map[string]any{"token_id": absent}), ReasonInvalid, "token_id"},
		{"token_id empty", tokenSubject, token(map[string]any{"token_id": ""}), ReasonInvalid, "token_id"},
		{"token_id too long", tokenSubject, token(map[string]any{"token_id": strings.Repeat("t", 129)}), ReasonInvalid, "token_id"},
		{"token_name too long", tokenSubject, token(map[string]any{"token_name": strings.Repeat("n", 257)}), ReasonInvalid, "token_name"},
		{"token_type unknown", tokenSubject, token(map[string]any{"token_type": "secret"}), ReasonInvalid, "token_type"},
		{"environment unknown", tokenSubject, token(map[string]any{"environment": "prod"}), ReasonInvalid, "environment"},
		{"event unknown", tokenSubject, token(map[string]any{"event": "used"}), ReasonInvalid, "event"},
		{"event null", tokenSubject, token(map[string]any{"event": nil}), ReasonInvalid, "event"},
		{"event repeated", tokenSubject, withRaw(token(nil), `"event":"revoked"`), ReasonInvalid, "event"},
		{"first field in SPEC order wins", loginSubject, login(map[string]any{"status": 1, "id": 2}), ReasonInvalid, "id"},

		// The subject.
		{"subject empty", "", login(nil), ReasonSubjectMismatch, ""},
		{"subject too short", "auth.events.acme", login(nil), ReasonSubjectMismatch, ""},
		{"subject too long", "auth.events.acme.login.x", login(nil), ReasonSubjectMismatch, ""},
		{"subject of alerts", "auth.alerts.acme.login", login(nil), ReasonSubjectMismatch, ""},
		{"subject without tenant", "auth.events..login", login(nil), ReasonSubjectMismatch, ""},
		{"subject of another tenant", "auth.events.globex.login", login(nil), ReasonSubjectMismatch, "tenant_id"},
		{"subject of the other kind", tokenSubject, login(nil), ReasonSubjectMismatch, "kind"},
		{"invalid wins over subject", "auth.events.globex.login", login(map[string]any{"ip_address": "x"}), ReasonInvalid, "ip_address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode(tt.subject, tt.data)
			if err == nil {
				t.Fatalf("Decode accepted %+v", e)
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("Decode error %v is not an *Error", err)
			}
			if de.Reason != tt.reason || de.Field != tt.field {
				t.Errorf("Decode = reason %q field %q (%v), want reason %q field %q", de.Reason, de.Field, err, tt.reason, tt.field)
			}
			if Reason(err) != tt.reason {
				t.Errorf("Reason = %q, want %q", Reason(err), tt.reason)
			}
			checkMessage(t, err)
		})
	}
}

func TestErrorMessage(t *testing.T) {
	long := strings.Repeat("9", 5000)
	_, err := Decode(loginSubject, login(map[string]any{"ip_address": long}))
	if err == nil {
		t.Fatal("accepted")
	}
	checkMessage(t, err)
	if strings.Contains(err.Error(), strings.Repeat("9", maxEchoBytes+1)) {
		t.Errorf("message echoes more than %d bytes of the value: %q", maxEchoBytes, err)
	}
	if want := `ip_address: "999.1.1.1" is not an IPv4 or IPv6 address`; fmt.Sprint(invalid("ip_address", quote("999.1.1.1")+" is not an IPv4 or IPv6 address")) != want {
		t.Errorf("message format changed; want %s", want)
	}
	// Control characters and invalid bytes are escaped, never copied.
	_, err = Decode(loginSubject, login(map[string]any{"ip_address": "a\nb\u2028" + strings.Repeat("\x01", 300)}))
	checkMessage(t, err)
	msg := (&Error{Reason: ReasonInvalid, Field: "f", Msg: strings.Repeat("x", 1000)}).Error()
	if len(msg) != maxMessageBytes {
		t.Errorf("long message is %d bytes", len(msg))
	}
}

func TestReason(t *testing.T) {
	if got := Reason(nil); got != "" {
		t.Errorf("Reason(nil) = %q", got)
	}
	wrapped := fmt.Errorf("ingest: %w", &Error{Reason: ReasonOversize})
	if got := Reason(wrapped); got != ReasonOversize {
		t.Errorf("Reason(wrapped) = %q", got)
	}
	if got := Reason(errors.New("other")); got != ReasonInvalid {
		t.Errorf("Reason(other) = %q", got)
	}
}

// The event must not share memory with the payload (NATS reuses it) or with
// the Decoder's buffers (the next Decode reuses them).
func TestDecodeCopies(t *testing.T) {
	var d Decoder
	data := login(nil)
	e, err := d.Decode(loginSubject, data)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%+v %+v %v", *e, *e.User, e.Metadata)
	for i := range data {
		data[i] = 'x'
	}
	if _, err := d.Decode(tokenSubject, token(map[string]any{"metadata": map[string]any{"a": "b"}})); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%+v %+v %v", *e, *e.User, e.Metadata); got != want {
		t.Errorf("event changed after its payload and decoder were reused:\n%s\nwant\n%s", got, want)
	}
}

func TestDecodeConcurrently(t *testing.T) {
	t.Parallel()
	done := make(chan error)
	for g := range 4 {
		go func() {
			for i := range 500 {
				id := fmt.Sprintf("g%d-%d", g, i)
				e, err := Decode(loginSubject, login(map[string]any{"id": id}))
				if err == nil && e.ID != id {
					err = fmt.Errorf("id %q, want %q", e.ID, id)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
