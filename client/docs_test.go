package client_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/schemas"
)

// gatewayDoc is the page for gateway teams, whose event reference must
// agree with the JSON Schema.
var gatewayDoc = filepath.Join("..", "docs", "gateway.md")

// schemaField is what the schema says of one field, as the reference
// table states it.
type schemaField struct {
	events   string // all, login or token
	required string // yes, no, or "yes, except on a failed login"
	typ      string
	enum     []string
	limits   []int // numbers the rule must state: maxLength, maxProperties, pattern bounds
}

// docField is one row of the reference table.
type docField struct {
	events, required, typ, rule string
}

func TestEventReferenceMatchesTheSchema(t *testing.T) {
	want := schemaFields(t)
	got := referenceTable(t)
	for name, f := range want {
		row, ok := got[name]
		if !ok {
			t.Errorf("the schema has %s; docs/gateway.md's event reference does not", name)
			continue
		}
		if row.events != f.events {
			t.Errorf("%s: events %q in the docs, %q in the schema", name, row.events, f.events)
		}
		if row.required != f.required {
			t.Errorf("%s: required %q in the docs, %q in the schema", name, row.required, f.required)
		}
		if row.typ != f.typ {
			t.Errorf("%s: type %q in the docs, %q in the schema", name, row.typ, f.typ)
		}
		if f.enum != nil {
			values := backticked(row.rule)
			slices.Sort(values)
			values = slices.Compact(values)
			enum := slices.Sorted(slices.Values(f.enum))
			if !slices.Equal(values, enum) {
				t.Errorf("%s: the docs list %v, the schema allows %v", name, values, enum)
			}
		}
		numbers := regexp.MustCompile(`\d+`).FindAllString(row.rule, -1)
		for _, n := range f.limits {
			if !slices.Contains(numbers, strconv.Itoa(n)) {
				t.Errorf("%s: the schema's limit %d is not in the docs' rule %q", name, n, row.rule)
			}
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("docs/gateway.md documents %s, which the schema does not have", name)
		}
	}
}

// schemaFields reads every field of schemas/event-v1.schema.json: the
// common ones, those of each kind (the allOf branches), and the members
// of the login's user object.
func schemaFields(t *testing.T) map[string]schemaField {
	t.Helper()
	type node struct {
		Type          any              `json:"type"`
		Enum          []string         `json:"enum"`
		Pattern       string           `json:"pattern"`
		MaxLength     int              `json:"maxLength"`
		MaxProperties int              `json:"maxProperties"`
		Required      []string         `json:"required"`
		Properties    map[string]*node `json:"properties"`
		If            *node            `json:"if"`
		Then          *node            `json:"then"`
		Else          *node            `json:"else"`
		Const         string           `json:"const"`
	}
	var root struct {
		node
		AllOf []*node `json:"allOf"`
	}
	if err := json.Unmarshal([]byte(schemas.EventV1), &root); err != nil {
		t.Fatalf("schema: %v", err)
	}
	bounds := regexp.MustCompile(`\{(\d+),(\d+)\}`)
	describe := func(n *node, events string, required bool) schemaField {
		f := schemaField{events: events, required: "no", enum: n.Enum}
		if required {
			f.required = "yes"
		}
		switch typ := n.Type.(type) {
		case string:
			f.typ = typ
		case []any:
			for _, x := range typ {
				if x != "null" {
					f.typ = x.(string)
				}
			}
		case nil:
			f.typ = "string" // an enum of strings
		}
		if n.MaxLength > 0 {
			f.limits = append(f.limits, n.MaxLength)
		}
		if n.MaxProperties > 0 {
			f.limits = append(f.limits, n.MaxProperties)
		}
		if m := bounds.FindStringSubmatch(n.Pattern); m != nil && !strings.Contains(n.Pattern, "[0-9]") {
			hi, _ := strconv.Atoi(m[2])
			f.limits = append(f.limits, hi)
		}
		return f
	}
	fields := map[string]schemaField{}
	for name, n := range root.Properties {
		fields[name] = describe(n, "all", slices.Contains(root.Required, name))
	}
	for _, branch := range root.AllOf {
		switch {
		case branch.Then != nil:
			events := branch.If.Properties["kind"].Const
			for name, n := range branch.Then.Properties {
				fields[name] = describe(n, events, slices.Contains(branch.Then.Required, name))
				for member, m := range n.Properties {
					fields[name+"."+member] = describe(m, events, false)
				}
			}
		case branch.Else != nil:
			// The one conditional requirement: user_id except on a failed login.
			for _, name := range branch.Else.Required {
				f := fields[name]
				f.required = "yes, except on a failed login"
				fields[name] = f
			}
		}
	}
	if len(fields) < 19 {
		t.Fatalf("read %d fields from the schema; has its layout changed?", len(fields))
	}
	return fields
}

// referenceTable reads the table under "## Event reference".
func referenceTable(t *testing.T) map[string]docField {
	t.Helper()
	data, err := os.ReadFile(gatewayDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Event reference\n")
	if !ok {
		t.Fatalf("%s has no \"## Event reference\" section", gatewayDoc)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string]docField{}
	for line := range strings.Lines(section) {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), " | ")
		if len(cells) != 5 {
			t.Fatalf("row %q has %d cells, want 5", line, len(cells))
		}
		name := strings.Trim(strings.TrimSpace(cells[0]), "`")
		if _, dup := rows[name]; dup {
			t.Errorf("%s is documented twice", name)
		}
		rows[name] = docField{
			events:   strings.TrimSpace(cells[1]),
			required: strings.TrimSpace(cells[2]),
			typ:      strings.TrimSpace(cells[3]),
			rule:     strings.TrimSpace(cells[4]),
		}
	}
	return rows
}

func backticked(s string) []string {
	var out []string
	for _, m := range regexp.MustCompile("`([^`]*)`").FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// The nats CLI one-liner of the docs publishes an event the pipeline
// accepts, under its own id.
func TestDocumentedCLIEventIsValid(t *testing.T) {
	data, err := os.ReadFile(gatewayDoc)
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^nats pub --jetstream -H 'Nats-Msg-Id:([^']+)' (\S+) '(.*)'$`).FindStringSubmatch(string(data))
	if line == nil {
		t.Fatalf("%s has no nats pub one-liner of the expected shape", gatewayDoc)
	}
	msgID, subject, body := line[1], line[2], line[3]
	ev, err := event.Decode(subject, []byte(body))
	if err != nil {
		t.Fatalf("the one-liner's event is refused: %v", err)
	}
	if ev.ID != msgID {
		t.Errorf("Nats-Msg-Id %q, event id %q", msgID, ev.ID)
	}
}
