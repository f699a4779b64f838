package httpapi

import (
	"net/url"
	"testing"
	"time"
)

func TestParamsDates(t *testing.T) {
	d := func(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }
	tests := []struct {
		name     string
		q        url.Values
		from, to time.Time
		bad      string
	}{
		{"none", url.Values{}, time.Time{}, time.Time{}, ""},
		{"both inclusive", url.Values{"from": {"2026-01-01"}, "to": {"2026-01-31"}}, d("2026-01-01"), d("2026-02-01"), ""},
		{"same day", url.Values{"from": {"2026-01-05"}, "to": {"2026-01-05"}}, d("2026-01-05"), d("2026-01-06"), ""},
		{"from after to", url.Values{"from": {"2026-02-01"}, "to": {"2026-01-31"}}, d("2026-02-01"), d("2026-02-01"), "from"},
		{"bad from", url.Values{"from": {"01/02/2026"}}, time.Time{}, time.Time{}, "from"},
		{"bad to", url.Values{"to": {"2026-02-30"}}, time.Time{}, time.Time{}, "to"},
		{"time given", url.Values{"from": {"2026-01-01T00:00:00Z"}}, time.Time{}, time.Time{}, "from"},
		{"year out of range", url.Values{"from": {"1969-12-31"}}, time.Time{}, time.Time{}, "from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewParams(tt.q)
			r := p.Dates()
			if tt.bad != "" {
				if len(p.Problems[tt.bad]) == 0 {
					t.Errorf("problems %v do not name %s", p.Problems, tt.bad)
				}
				return
			}
			if p.Err() != nil || !r.From.Equal(tt.from) || !r.To.Equal(tt.to) {
				t.Errorf("Dates = %v..%v (%v), want %v..%v", r.From, r.To, p.Problems, tt.from, tt.to)
			}
		})
	}
}

func TestParamsPageIntEnumBool(t *testing.T) {
	tests := []struct {
		name string
		q    url.Values
		run  func(p *Params) any
		want any
		bad  string
	}{
		{"page defaults", url.Values{}, func(p *Params) any { return p.Page() }, Page{Page: 1, PerPage: 25}, ""},
		{"page given", url.Values{"page": {"3"}, "per_page": {"100"}}, func(p *Params) any { return p.Page() }, Page{Page: 3, PerPage: 100}, ""},
		{"per_page 0", url.Values{"per_page": {"0"}}, func(p *Params) any { return p.Page() }, nil, "per_page"},
		{"per_page 101", url.Values{"per_page": {"101"}}, func(p *Params) any { return p.Page() }, nil, "per_page"},
		{"page 0", url.Values{"page": {"0"}}, func(p *Params) any { return p.Page() }, nil, "page"},
		{"page float", url.Values{"page": {"1.5"}}, func(p *Params) any { return p.Page() }, nil, "page"},
		{"int default", url.Values{}, func(p *Params) any { return p.Int("days", 30, 1, 365) }, 30, ""},
		{"int max edge", url.Values{"days": {"365"}}, func(p *Params) any { return p.Int("days", 30, 1, 365) }, 365, ""},
		{"int over", url.Values{"days": {"366"}}, func(p *Params) any { return p.Int("days", 30, 1, 365) }, nil, "days"},
		{"int huge", url.Values{"days": {"99999999999999999999"}}, func(p *Params) any { return p.Int("days", 30, 1, 365) }, nil, "days"},
		{"enum ok", url.Values{"status": {"2fa_failed"}}, func(p *Params) any { return p.Enum("status", statusNames) }, "2fa_failed", ""},
		{"enum case matters", url.Values{"status": {"SUCCESS"}}, func(p *Params) any { return p.Enum("status", statusNames) }, nil, "status"},
		{"bool true", url.Values{"x": {"true"}}, func(p *Params) any { return p.Bool("x") }, true, ""},
		{"bool 0", url.Values{"x": {"0"}}, func(p *Params) any { return p.Bool("x") }, false, ""},
		{"bool junk", url.Values{"x": {"yes"}}, func(p *Params) any { return p.Bool("x") }, nil, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewParams(tt.q)
			got := tt.run(p)
			if tt.bad != "" {
				if len(p.Problems[tt.bad]) == 0 {
					t.Errorf("problems %v do not name %s", p.Problems, tt.bad)
				}
				return
			}
			if p.Err() != nil || got != tt.want {
				t.Errorf("got %v (%v), want %v", got, p.Problems, tt.want)
			}
		})
	}
}

func TestNewListLastPage(t *testing.T) {
	tests := []struct {
		total    uint64
		perPage  int
		lastPage int
	}{{0, 25, 1}, {1, 25, 1}, {25, 25, 1}, {26, 25, 2}, {100, 10, 10}, {101, 10, 11}}
	for _, tt := range tests {
		l := NewList([]int(nil), Page{Page: 1, PerPage: tt.perPage}, tt.total)
		if l.Pagination.LastPage != tt.lastPage || l.History == nil {
			t.Errorf("total %d by %d: last_page %d (history nil: %v), want %d", tt.total, tt.perPage, l.Pagination.LastPage, l.History == nil, tt.lastPage)
		}
	}
}
