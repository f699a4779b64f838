package httpapi_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/httpapi"
)

// FuzzParams feeds arbitrary query strings to the parameter parsing every
// route uses. Whatever comes in: no panic; every value returned is within
// its documented bounds, or the parameter is named in the 422.
func FuzzParams(f *testing.F) {
	for _, seed := range []string{
		"page=1&per_page=25", "page=0", "per_page=101", "page=-1&per_page=abc",
		"from=2026-01-01&to=2026-01-31", "from=2026-02-30", "from=2026-12-31&to=2026-01-01",
		"from=9999-12-31", "status=failed&status=success", "days=30", "hours=0",
		"suspicious_only=true", "suspicious_only=maybe", "limit=1e9", "%ZZ", "a=%00&b=\xff",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // net/url refuses it before any handler sees it
		}
		p := httpapi.NewParams(q)
		pg := p.Page()
		days := p.Int("days", 30, 1, 90)
		_ = p.Bool("suspicious_only")
		status := p.Enum("status", []string{"success", "failed", "blocked", "2fa_required", "2fa_failed"})
		s := p.String("user_id", 128)
		r := p.Dates()
		problems := p.Problems
		if _, bad := problems["page"]; !bad && pg.Page < 1 {
			t.Errorf("page %d accepted", pg.Page)
		}
		if _, bad := problems["per_page"]; !bad && (pg.PerPage < 1 || pg.PerPage > 100) {
			t.Errorf("per_page %d accepted", pg.PerPage)
		}
		if _, bad := problems["days"]; !bad && (days < 1 || days > 90) {
			t.Errorf("days %d accepted", days)
		}
		if _, bad := problems["user_id"]; !bad && len(s) > 128 {
			t.Errorf("user_id of %d bytes accepted", len(s))
		}
		switch status {
		case "", "success", "failed", "blocked", "2fa_required", "2fa_failed":
		default:
			t.Errorf("status %q accepted", status)
		}
		_, badFrom := problems["from"]
		_, badTo := problems["to"]
		if !badFrom && !badTo && !r.From.IsZero() && !r.To.IsZero() && !r.To.After(r.From) {
			t.Errorf("range %s – %s accepted", r.From.Format(time.DateOnly), r.To.Format(time.DateOnly))
		}
		if err := p.Err(); (err == nil) != (len(problems) == 0) {
			t.Errorf("Err() = %v with problems %v", err, problems)
		}
	})
}
