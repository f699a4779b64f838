package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode checks that Decode never panics, that every error is an *Error
// with a known reason and a short one-line message, that it tells JSON from
// not JSON as encoding/json does, that it reads strings as encoding/json
// does, and that an event it accepts survives json.Marshal (what
// client.Publisher sends) and Decode again unchanged.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"good", "bad"} {
		for _, path := range corpusFiles(f, dir) {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(subjectFor(data), data)
		}
	}
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		ev, err := Decode(subject, data)
		isJSON := utf8.Valid(data) && json.Valid(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			switch e.Reason {
			case ReasonOversize, ReasonInvalid, ReasonSubjectMismatch:
			case ReasonNotJSON:
				if isJSON && bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) && !hasLoneSurrogate(data) {
					t.Fatalf("Decode calls a JSON object not JSON: %v", err)
				}
			default:
				t.Fatalf("unknown reason %q", e.Reason)
			}
			if e.Reason != ReasonNotJSON && e.Reason != ReasonOversize && !isJSON {
				t.Fatalf("Decode read invalid JSON as JSON: %v", err)
			}
			if msg := err.Error(); len(msg) > maxMessageBytes || strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) {
				t.Fatalf("message is not one short line: %q", msg)
			}
			return
		}
		if !isJSON {
			t.Fatalf("Decode accepted invalid JSON: %+v", ev)
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("Validate refuses what Decode accepted: %v", err)
		}
		sameStrings(t, data, ev)

		again, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		if len(again) > MaxPayloadBytes {
			return // escapes (U+2028, <, &) can make the JSON longer than the payload was
		}
		ev2, err := Decode(subject, again)
		if err != nil {
			t.Fatalf("Decode of the re-marshalled event: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, ev2)
		}
	})
}

// sameStrings checks that ev holds the strings encoding/json reads from data.
func sameStrings(t *testing.T, data []byte, ev *Event) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	str := func(v any) string { s, _ := v.(string); return s }
	check := func(field, got, want string) {
		if got != want {
			t.Fatalf("%s = %q, encoding/json reads %q", field, got, want)
		}
	}
	check("id", ev.ID, str(m["id"]))
	check("tenant_id", ev.TenantID, str(m["tenant_id"]))
	check("user_id", ev.UserID, str(m["user_id"]))
	if ua := str(m["user_agent"]); !strings.HasPrefix(ua, ev.UserAgent) || len(ev.UserAgent) < min(len(ua), MaxUserAgentBytes-3) {
		t.Fatalf("user_agent = %q, encoding/json reads %q", ev.UserAgent, ua)
	}
	meta, _ := m["metadata"].(map[string]any)
	if len(meta) != len(ev.Metadata) {
		t.Fatalf("metadata = %v, encoding/json reads %v", ev.Metadata, meta)
	}
	for k, v := range meta {
		check("metadata["+k+"]", ev.Metadata[k], str(v))
	}
	switch ev.Kind {
	case KindLogin:
		check("failure_reason", ev.FailureReason, str(m["failure_reason"]))
		check("identifier", ev.Identifier, str(m["identifier"]))
		user, _ := m["user"].(map[string]any)
		var name, email string
		if ev.User != nil {
			name, email = ev.User.Name, ev.User.Email
		}
		check("user.name", name, str(user["name"]))
		check("user.email", email, str(user["email"]))
	case KindToken:
		check("token_id", ev.TokenID, str(m["token_id"]))
		check("token_name", ev.TokenName, str(m["token_name"]))
	}
}

// hasLoneSurrogate reports whether valid JSON data escapes half a UTF-16
// surrogate pair in a string, which Decode refuses and encoding/json reads
// as U+FFFD. It is written apart from the scanner, to check it.
func hasLoneSurrogate(data []byte) bool {
	for {
		i := bytes.IndexByte(data, '\\')
		if i < 0 || i+1 >= len(data) {
			return false
		}
		if data[i+1] != 'u' || i+6 > len(data) {
			data = data[i+2:] // also steps over the second half of "\\"
			continue
		}
		r := hex4(data[i+2 : i+6])
		data = data[i+6:]
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			return true
		case r >= 0xd800 && r <= 0xdbff:
			if len(data) < 6 || data[0] != '\\' || data[1] != 'u' {
				return true
			}
			if low := hex4(data[2:6]); low < 0xdc00 || low > 0xdfff {
				return true
			}
			data = data[6:]
		}
	}
}

func hex4(b []byte) int {
	n := 0
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return -1
		}
	}
	return n
}
