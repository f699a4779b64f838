package httpapi

import (
	"bytes"
	"encoding/csv"
	"encoding/json"

	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// Pagination is the envelope of every paginated list (SPEC §3).
type Pagination struct {
	CurrentPage int    `json:"current_page"`
	LastPage    int    `json:"last_page"`
	PerPage     int    `json:"per_page"`
	Total       uint64 `json:"total"`
}

// List is a page of items, newest first.
type List[T any] struct {
	History    []T        `json:"history"`
	Pagination Pagination `json:"pagination"`
}

func (List[T]) zeroItem() any { return new(T) }

// NewList wraps a page of items; a page past the end is empty with the true total.
func NewList[T any](items []T, pg Page, total uint64) List[T] {
	if items == nil {
		items = []T{}
	}
	last := int((total + uint64(pg.PerPage) - 1) / uint64(pg.PerPage))
	return List[T]{History: items, Pagination: Pagination{CurrentPage: pg.Page, LastPage: max(last, 1), PerPage: pg.PerPage, Total: total}}
}

// respond writes v as JSON, or as CSV when the client asks for text/csv:
// the rows are a list's history, an analytics answer's buckets, an array's
// elements, or the object itself; nested fields become parent.child columns.
func respond(c echo.Context, code int, v any) error {
	if !wantsCSV(c.Request()) {
		return c.JSON(code, v)
	}
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// An empty list still gets its header line, taken from a zero item.
	var zero []byte
	if z, ok := v.(interface{ zeroItem() any }); ok {
		if zero, err = json.Marshal(z.zeroItem()); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := toCSV(&buf, body, zero); err != nil {
		return err
	}
	return c.Blob(code, "text/csv; charset=utf-8", buf.Bytes())
}

func wantsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/csv") {
			return true
		}
	}
	return false
}

// toCSV turns a JSON document into CSV rows with a header line; zeroRow,
// when given, names the columns of a document without rows.
func toCSV(w io.Writer, doc, zeroRow []byte) error {
	// Find the rows, then flatten each one in its field order.
	rowsRaw, err := rowsOf(doc)
	if err != nil {
		return err
	}
	var header []string
	if len(rowsRaw) == 0 && zeroRow != nil {
		if header, err = flatten(zeroRow, "", map[string]string{}); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	var rows []map[string]string
	for _, raw := range rowsRaw {
		row := map[string]string{}
		keys, err := flatten(raw, "", row)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if !seen[k] {
				seen[k] = true
				header = append(header, k)
			}
		}
		rows = append(rows, row)
	}
	cw := csv.NewWriter(w)
	if len(header) > 0 {
		if err := cw.Write(header); err != nil {
			return err
		}
	}
	rec := make([]string, len(header))
	for _, row := range rows {
		for i, k := range header {
			rec[i] = row[k]
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func rowsOf(doc []byte) ([]json.RawMessage, error) {
	doc = bytes.TrimSpace(doc)
	if len(doc) > 0 && doc[0] == '[' {
		var arr []json.RawMessage
		return arr, json.Unmarshal(doc, &arr)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(doc, &obj); err != nil {
		return nil, err
	}
	for _, key := range []string{"history", "buckets"} {
		if inner, ok := obj[key]; ok {
			var arr []json.RawMessage
			return arr, json.Unmarshal(inner, &arr)
		}
	}
	return []json.RawMessage{doc}, nil
}

// flatten writes the leaves of an object into row under dotted names and
// returns the names in document order. Arrays stay JSON in one cell; a
// scalar row becomes the column "value".
func flatten(raw json.RawMessage, prefix string, row map[string]string) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		name := prefix
		if name == "" {
			name = "value"
		}
		row[name] = cell(raw)
		return []string{name}, nil
	}
	var keys []string
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		name := kt.(string)
		if prefix != "" {
			name = prefix + "." + name
		}
		if t := bytes.TrimSpace(val); len(t) > 0 && t[0] == '{' {
			sub, err := flatten(val, name, row)
			if err != nil {
				return nil, err
			}
			keys = append(keys, sub...)
			continue
		}
		row[name] = cell(val)
		keys = append(keys, name)
	}
	return keys, nil
}

func cell(val json.RawMessage) string {
	t := bytes.TrimSpace(val)
	switch {
	case bytes.Equal(t, []byte("null")):
		return ""
	case len(t) > 0 && t[0] == '"':
		var s string
		if err := json.Unmarshal(t, &s); err == nil {
			return s
		}
	}
	return string(t)
}
