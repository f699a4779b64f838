package event

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The corpus, testdata/corpus, is shared with the JSON Schema's test
// (schemas/schema_test.go) and seeds FuzzDecode; testdata/corpus/README.md
// describes it. A bad file is named <what>--<description>.json, where <what>
// is the reason code it must be rejected with (not_json, oversize), or else
// the field it must be rejected on with reason invalid.

// corpusFiles returns the corpus files under dir (good or bad), go-only/
// included.
func corpusFiles(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join("testdata", "corpus", dir), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no corpus files in %s", dir)
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
	return Subject(tenant, Kind(kind))
}

func TestCorpusGood(t *testing.T) {
	for _, path := range corpusFiles(t, "good") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(subjectFor(data), data); err != nil {
				t.Errorf("Decode: %v", err)
			}
		})
	}
}

func TestCorpusBad(t *testing.T) {
	reasons := map[string]bool{ReasonOversize: true, ReasonNotJSON: true, ReasonSubjectMismatch: true}
	for _, path := range corpusFiles(t, "bad") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			what, _, ok := strings.Cut(filepath.Base(path), "--")
			if !ok {
				t.Fatalf("name is not <reason or field>--<description>.json")
			}
			wantReason, wantField := ReasonInvalid, what
			if reasons[what] {
				wantReason, wantField = what, ""
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Decode(subjectFor(data), data)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode = %v, want an *Error", err)
			}
			if e.Reason != wantReason || e.Field != wantField {
				t.Errorf("Decode = reason %q field %q (%v), want reason %q field %q", e.Reason, e.Field, err, wantReason, wantField)
			}
			checkMessage(t, err)
		})
	}
}
