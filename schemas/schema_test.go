package schemas_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/authwatch/authwatch/event"
)

// The schema is read from disk, not embedded, so that this test does not
// depend on how package schemas embeds its files.
const schemaFile = "event-v1.schema.json"

// corpusDir is the event package's corpus. Files under a go-only/ folder
// break rules the schema cannot express (see the schema's description and
// the corpus README) and are left out here.
var corpusDir = filepath.Join("..", "event", "testdata", "corpus")

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat() // format is only an annotation in 2020-12 unless asked for
	sch, err := c.Compile(schemaFile)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaFile, err)
	}
	return sch
}

// TestSchemaAgreesWithDecode demands the same verdict from the schema and
// from event.Decode on every file of the shared corpus.
func TestSchemaAgreesWithDecode(t *testing.T) {
	sch := compileSchema(t)
	for _, dir := range []string{"good", "bad"} {
		files := corpusFiles(t, filepath.Join(corpusDir, dir))
		for _, path := range files {
			t.Run(dir+"/"+filepath.Base(path), func(t *testing.T) {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				_, decodeErr := event.Decode(subjectFor(data), data)
				schemaErr := validate(sch, data)
				if (decodeErr == nil) != (schemaErr == nil) {
					t.Errorf("verdicts differ:\nevent.Decode: %v\nschema:       %v", decodeErr, schemaErr)
				}
				if (decodeErr == nil) != (dir == "good") {
					t.Errorf("a %s file, but event.Decode says %v", dir, decodeErr)
				}
			})
		}
	}
}

// validate is what a gateway in another language does: parse the payload as
// JSON (RFC 8259: UTF-8, one value), then check it against the schema.
func validate(sch *jsonschema.Schema, data []byte) error {
	if !utf8.Valid(data) {
		return errInvalidUTF8
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(doc)
}

type schemaTestError string

func (e schemaTestError) Error() string { return string(e) }

const errInvalidUTF8 = schemaTestError("not valid UTF-8")

// corpusFiles lists the .json files under dir, skipping go-only/ folders.
func corpusFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "go-only":
			return filepath.SkipDir
		case !d.IsDir() && strings.HasSuffix(path, ".json"):
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no corpus files under %s", dir)
	}
	return files
}

// subjectFor returns the subject a gateway would publish data on: the one
// named by its tenant_id and kind, when they are strings.
func subjectFor(data []byte) string {
	var head struct {
		TenantID any `json:"tenant_id"`
		Kind     any `json:"kind"`
	}
	_ = json.Unmarshal(data, &head) // not JSON: the defaults will do
	tenant, ok := head.TenantID.(string)
	if !ok || tenant == "" {
		tenant = "acme"
	}
	kind, ok := head.Kind.(string)
	if !ok || kind == "" {
		kind = "login"
	}
	return event.Subject(tenant, event.Kind(kind))
}

// TestSchemaDescribesEveryField checks that every property the schema
// defines has a description, and that it names every wire field.
func TestSchemaDescribesEveryField(t *testing.T) {
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.(map[string]any)
	for _, key := range []string{"$schema", "$id", "description"} {
		if _, ok := root[key]; !ok {
			t.Errorf("schema has no %s", key)
		}
	}
	seen := map[string]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if props, ok := v["properties"].(map[string]any); ok {
				for name, p := range props {
					seen[name] = true
					if _, ok := p.(map[string]any)["description"]; !ok && !strings.Contains(path, "/if") && !strings.Contains(path, "/else") {
						t.Errorf("%s/properties/%s has no description", path, name)
					}
				}
			}
			for k, child := range v {
				walk(path+"/"+k, child)
			}
		case []any:
			for _, child := range v {
				walk(path+"/[]", child)
			}
		}
	}
	walk("#", doc)
	for _, field := range []string{
		"id", "kind", "tenant_id", "user_id", "occurred_at", "ip_address", "user_agent", "metadata",
		"status", "failure_reason", "identifier", "user", "name", "email",
		"token_id", "token_name", "token_type", "environment", "event",
	} {
		if !seen[field] {
			t.Errorf("schema does not define %s", field)
		}
	}
}

// TestSchemaAgreesOnValues tries values at the edges of each rule in an
// otherwise valid event, through both event.Decode and the schema.
func TestSchemaAgreesOnValues(t *testing.T) {
	sch := compileSchema(t)
	login := map[string]any{
		"id": "e1", "kind": "login", "tenant_id": "acme", "user_id": "u1",
		"occurred_at": "2025-12-27T20:57:29Z", "ip_address": "192.0.2.1", "status": "success",
	}
	token := map[string]any{
		"id": "e2", "kind": "token", "tenant_id": "acme", "user_id": "u1",
		"occurred_at": "2025-12-27T20:57:29Z", "ip_address": "192.0.2.1",
		"token_id": "k1", "token_type": "sk", "environment": "live", "event": "created",
	}
	values := map[string][]any{
		"id":        {"a", strings.Repeat("a", 64), strings.Repeat("a", 65), "a-b_C9", "a b", "a.b", "é", "", nil, 1, "*", ">"},
		"tenant_id": {"t", strings.Repeat("t", 64), strings.Repeat("t", 65), "t/u", "", nil},
		"kind":      {"login", "token", "LOGIN", "", nil, true},
		"user_id":   {"u", "", nil, strings.Repeat("ü", 128), strings.Repeat("ü", 129), "a\x00", 5},
		"occurred_at": {
			"2025-12-27T20:57:29Z", "2025-12-27t20:57:29z", "2025-12-27T20:57:29.1Z", "2025-12-27T20:57:29.123456789Z",
			"2025-12-27T20:57:29.1234567890Z", "2025-12-27T20:57:29.Z", "2025-12-27T20:57:29+05:30", "2025-12-27T20:57:29-00:00",
			"2025-12-27T20:57:29+24:00", "2025-12-27T20:57:29+05:60", "2025-12-27T20:57:29+0530", "2025-12-27T20:57:29",
			"2025-12-27 20:57:29Z", "2025-12-27", "2024-02-29T00:00:00Z", "2025-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
			"1900-02-29T00:00:00Z", "2025-04-31T00:00:00Z", "2025-00-10T00:00:00Z", "2025-12-00T00:00:00Z",
			"2025-12-27T24:00:00Z", "2025-12-27T23:60:00Z", "2016-12-31T23:59:60Z", "1970-01-01T00:00:00Z",
			"1969-12-31T23:59:59Z", "2099-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "+2025-12-27T20:57:29Z",
			"２０２５-12-27T20:57:29Z", " 2025-12-27T20:57:29Z", "2025-12-27T20:57:29Z ", "", nil, 1766869049,
		},
		"ip_address": {
			"192.0.2.1", "0.0.0.0", "255.255.255.255", "256.0.0.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "+1.2.3.4", "-0.1.2.3",
			"1.2.3.4 ", " 1.2.3.4", "::", "::1", "2001:db8::1", "2001:DB8::1", "::ffff:1.2.3.4", "64:ff9b::1.2.3.4",
			"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1::2::3", "fe80::1%eth0", "[::1]", "::1.2.3", "1.2.3.4/32",
			"1.2.3.4:80", "localhost", "", nil, 16909060,
		},
		"user_agent": {"Mozilla/5.0", "", nil, strings.Repeat("ü", 2000), "a\x00b", strings.Repeat("a", 3000) + "\x00", 1},
		"metadata": {
			nil, map[string]any{}, map[string]any{"a": "b"}, map[string]any{"": ""}, map[string]any{"a": 1},
			map[string]any{"a": nil}, map[string]any{"a": []any{}}, map[string]any{"a": map[string]any{}},
			map[string]any{"a\x00": "b"}, map[string]any{"a": "b\x00"}, []any{}, "a=b",
		},
	}
	loginOnly := map[string][]any{
		"status":         {"success", "failed", "blocked", "2fa_required", "2fa_failed", "ok", "", nil, 1},
		"failure_reason": {"x", "", nil, strings.Repeat("ř", 1024), strings.Repeat("ř", 1025), "\x00", false},
		"identifier":     {"x", "", nil, strings.Repeat("i", 256), strings.Repeat("i", 257), "a\x00", []any{}},
		"user": {
			nil, map[string]any{}, map[string]any{"name": "n", "email": "e"}, map[string]any{"name": nil},
			map[string]any{"name": strings.Repeat("n", 257)}, map[string]any{"email": strings.Repeat("e", 256)},
			map[string]any{"name": 1}, map[string]any{"other": 1}, map[string]any{"email": "a\x00"}, "x", []any{},
		},
		"token_id": {1, nil, ""},
	}
	tokenOnly := map[string][]any{
		"token_id":    {"k", "", nil, strings.Repeat("k", 128), strings.Repeat("k", 129), "k\x00", 1},
		"token_name":  {"n", "", nil, strings.Repeat("n", 256), strings.Repeat("n", 257), 1},
		"token_type":  {"sk", "pk", "rk", "xk", "", nil},
		"environment": {"test", "live", "prod", "", nil},
		"event":       {"authenticated", "failed", "expired", "ip_blocked", "domain_blocked", "rate_limited", "created", "rotated", "revoked", "used", "", nil},
		"status":      {1, nil, "x"},
		"user":        {"x"},
		"user_id":     {nil},
	}
	try := func(base map[string]any, field string, value any) {
		fields := make(map[string]any, len(base)+1)
		for k, v := range base {
			fields[k] = v
		}
		fields[field] = value
		data, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		_, decodeErr := event.Decode(subjectFor(data), data)
		if decodeErr != nil && event.Reason(decodeErr) == event.ReasonSubjectMismatch {
			return // the subject cannot be made of a tenant_id or kind that is not valid
		}
		if schemaErr := validate(sch, data); (decodeErr == nil) != (schemaErr == nil) {
			t.Errorf("%s = %.40q on %s: event.Decode says %v, the schema %v", field, value, base["kind"], decodeErr, schemaErr)
		}
	}
	for field, vs := range values {
		for _, v := range vs {
			try(login, field, v)
			try(token, field, v)
		}
	}
	for field, vs := range loginOnly {
		for _, v := range vs {
			try(login, field, v)
		}
	}
	for field, vs := range tokenOnly {
		for _, v := range vs {
			try(token, field, v)
		}
	}
	failed := map[string]any{}
	for k, v := range login {
		failed[k] = v
	}
	failed["status"] = "failed"
	for _, v := range []any{"u", "", nil, 1} {
		try(failed, "user_id", v)
	}
	delete(failed, "user_id")
	try(failed, "identifier", "root")
}
