package store

import (
	"encoding/json"
	"strings"
	"testing"
)

// metadataJSON writes what encoding/json writes for the same map (sorted
// keys, the same escapes), except that it leaves <, > and & alone, which
// encoding/json escapes for HTML; any JSON reader gets the same map back.
func TestMetadataJSONMatchesEncodingJSON(t *testing.T) {
	tests := []map[string]string{
		{"app": "web"},
		{"b": "2", "a": "1", "c": ""},
		{"quote": `say "hi"`, "slash": `a\b`, "ctl": "tab\tnl\ncr\r\x00\x1f\b\f"},
		{"unicode": "Zoë 北京 😀"},
		{"html": "<a href='x'>&</a>"},
	}
	for _, m := range tests {
		got := metadataJSON(m)
		var back map[string]string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Fatalf("%q is not JSON: %v", got, err)
		}
		for k, v := range m {
			if back[k] != v || len(back) != len(m) {
				t.Errorf("key %q: %q came back as %q (%d keys)", k, v, back[k], len(back))
			}
		}
		want, _ := json.Marshal(m)
		if !strings.ContainsAny(got, "<>&") && got != string(want) {
			t.Errorf("metadataJSON = %s, encoding/json = %s", got, want)
		}
	}
	if got := metadataJSON(nil); got != "{}" {
		t.Errorf("no metadata = %q, want {}", got)
	}
}
