package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Poison is one message no consumer can use.
type Poison struct {
	Name    string
	Subject string
	Payload []byte
}

// PoisonCorpus returns every rejected payload of event/testdata/corpus/bad
// (malformed JSON, wrong types, missing fields, bad values, oversize, invalid
// UTF-8, NUL bytes, huge metadata), each on the subject of its kind in
// tenant acme, plus messages built here: deep nesting, 16 KiB + 1, a
// tenant/subject mismatch, an unknown kind and an empty body.
func PoisonCorpus(t testing.TB) []Poison {
	t.Helper()
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("no go.mod above the test's directory")
		}
		root = parent
	}
	var out []Poison
	dir := filepath.Join(root, "event", "testdata", "corpus", "bad")
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		subject := "auth.events.acme.login"
		if strings.Contains(string(b), `"kind": "token"`) || strings.Contains(string(b), `"kind":"token"`) {
			subject = "auth.events.acme.token"
		}
		out = append(out, Poison{Name: filepath.Base(path), Subject: subject, Payload: b})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 50 {
		t.Fatalf("only %d poison files found in %s", len(out), dir)
	}
	good := `{"id":"p1","kind":"login","tenant_id":"acme","user_id":"u1","occurred_at":"2026-01-02T03:04:05Z","ip_address":"203.0.113.9","status":"success"}`
	deep := `{"id":"deep","kind":"login","tenant_id":"acme","occurred_at":"2026-01-02T03:04:05Z","ip_address":"203.0.113.9","status":"success","metadata":` +
		strings.Repeat(`{"a":`, 2000) + `1` + strings.Repeat(`}`, 2000) + `}`
	out = append(out,
		Poison{"built: 2000 levels of nesting", "auth.events.acme.login", []byte(deep)},
		Poison{"built: 16 KiB + 1", "auth.events.acme.login", []byte(good[:len(good)-1] + `,"failure_reason":"` + strings.Repeat("x", 16*1024+1-len(good)-20) + `"}`)},
		Poison{"built: tenant other on acme's subject", "auth.events.acme.login", []byte(strings.Replace(good, `"acme"`, `"other"`, 1))},
		Poison{"built: unknown kind", "auth.events.acme.session", []byte(strings.Replace(good, `"login"`, `"session"`, 1))},
		Poison{"built: empty body", "auth.events.acme.login", nil},
		Poison{"built: NUL bytes", "auth.events.acme.login", []byte("{\"id\":\"n\x00ul\"}\x00\x00")},
	)
	return out
}
