package httpapi

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Params reads query parameters, collecting every problem so one 422 names
// them all. It is pure: the clock is passed in.
type Params struct {
	q        url.Values
	Problems Problems
}

// NewParams wraps a request's query.
func NewParams(q url.Values) *Params { return &Params{q: q, Problems: Problems{}} }

// Err is the 422 for everything wrong so far, or nil.
func (p *Params) Err() error { return p.Problems.Err() }

// String returns the parameter, at most max bytes.
func (p *Params) String(name string, max int) string {
	v := p.q.Get(name)
	if len(v) > max {
		p.Problems.Add(name, fmt.Sprintf("The %s may not be greater than %d characters.", name, max))
		return ""
	}
	return v
}

// Int returns an integer parameter within [min, max], def when absent.
func (p *Params) Int(name string, def, min, max int) int {
	v := p.q.Get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		p.Problems.Add(name, fmt.Sprintf("The %s must be an integer between %d and %d.", name, min, max))
		return def
	}
	return n
}

// Bool returns a boolean parameter (true/false/1/0), false when absent.
func (p *Params) Bool(name string) bool {
	switch strings.ToLower(p.q.Get(name)) {
	case "":
		return false
	case "1", "true":
		return true
	case "0", "false":
		return false
	}
	p.Problems.Add(name, fmt.Sprintf("The %s field must be true or false.", name))
	return false
}

// Enum returns the parameter if it is one of allowed, "" when absent.
func (p *Params) Enum(name string, allowed []string) string {
	v := p.q.Get(name)
	if v == "" {
		return ""
	}
	if !slices.Contains(allowed, v) {
		p.Problems.Add(name, fmt.Sprintf("The selected %s is invalid; use one of: %s.", name, strings.Join(allowed, ", ")))
		return ""
	}
	return v
}

// Page is a page request.
type Page struct {
	Page, PerPage int
}

// Offset is the number of rows before the page.
func (pg Page) Offset() int { return (pg.Page - 1) * pg.PerPage }

// Page reads page (≥ 1, default 1) and per_page (1–100, default 25).
func (p *Params) Page() Page {
	return Page{Page: p.Int("page", 1, 1, 1_000_000), PerPage: p.Int("per_page", 25, 1, 100)}
}

// Range is a half-open time range [From, To); zero values mean unbounded.
type Range struct {
	From, To time.Time
}

// Dates reads from and to (YYYY-MM-DD, UTC, both inclusive) as a half-open
// range: to's whole day is included. from after to is a problem with from.
func (p *Params) Dates() Range {
	var r Range
	from, okFrom := p.date("from")
	to, okTo := p.date("to")
	if okFrom {
		r.From = from
	}
	if okTo {
		r.To = to.AddDate(0, 0, 1)
	}
	if okFrom && okTo && from.After(to) {
		p.Problems.Add("from", "The from must be a date before or equal to to.")
	}
	return r
}

func (p *Params) date(name string) (time.Time, bool) {
	v := p.q.Get(name)
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02", v)
	if err != nil || t.Year() < 1970 || t.Year() > 2099 {
		p.Problems.Add(name, fmt.Sprintf("The %s does not match the format YYYY-MM-DD.", name))
		return time.Time{}, false
	}
	return t, true
}
