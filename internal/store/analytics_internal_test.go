package store

import (
	"reflect"
	"testing"
	"time"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestIntervalTruncate(t *testing.T) {
	tests := []struct {
		iv   Interval
		in   string
		want string
	}{
		{Hourly, "2026-11-20T14:30:59Z", "2026-11-20T14:00:00Z"},
		{Hourly, "2026-11-20T14:00:00Z", "2026-11-20T14:00:00Z"},
		{Daily, "2026-11-20T23:59:59Z", "2026-11-20T00:00:00Z"},
		{Daily, "2026-11-20T00:00:00Z", "2026-11-20T00:00:00Z"},
		{Daily, "2026-11-20T01:30:00+05:00", "2026-11-19T00:00:00Z"}, // the UTC day
		{Hourly, "1969-12-31T23:30:00Z", "1969-12-31T23:00:00Z"},
	}
	for _, tt := range tests {
		if got := tt.iv.Truncate(utc(tt.in)); !got.Equal(utc(tt.want)) || got.Location() != time.UTC {
			t.Errorf("%s.Truncate(%s) = %s, want %s", tt.iv, tt.in, got, tt.want)
		}
	}
}

func TestIntervalBuckets(t *testing.T) {
	got := Daily.Buckets(utc("2026-11-18T00:00:00Z"), utc("2026-11-21T00:00:00Z"))
	want := []time.Time{utc("2026-11-18T00:00:00Z"), utc("2026-11-19T00:00:00Z"), utc("2026-11-20T00:00:00Z")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Daily.Buckets = %v, want %v", got, want)
	}
	if n := len(Hourly.Buckets(utc("2026-11-14T00:00:00Z"), utc("2026-11-21T00:00:00Z"))); n != 7*24 {
		t.Errorf("7 days by hour = %d buckets", n)
	}
	// A partial bucket at either end is a whole bucket.
	if got := Hourly.Buckets(utc("2026-11-20T10:30:00Z"), utc("2026-11-20T12:10:00Z")); len(got) != 3 || !got[0].Equal(utc("2026-11-20T10:00:00Z")) {
		t.Errorf("partial = %v", got)
	}
	if got := Daily.Buckets(utc("2026-11-20T00:00:00Z"), utc("2026-11-20T00:00:00Z")); len(got) != 0 {
		t.Errorf("empty range = %v", got)
	}
}

func TestSplitAtMark(t *testing.T) {
	from, to := utc("2026-11-01T00:00:00Z"), utc("2026-11-21T00:00:00Z")
	tests := []struct {
		mark, want time.Time
	}{
		{time.Time{}, from}, // never rolled up: all live
		{utc("2026-10-01T00:00:00Z"), from},
		{utc("2026-11-20T00:00:00Z"), utc("2026-11-20T00:00:00Z")},
		{utc("2026-12-01T00:00:00Z"), to}, // all rolled up
	}
	for _, tt := range tests {
		if got := splitAtMark(from, to, tt.mark); !got.Equal(tt.want) {
			t.Errorf("splitAtMark(mark %s) = %s, want %s", tt.mark, got, tt.want)
		}
	}
}

func TestFillBuckets(t *testing.T) {
	from, to := utc("2026-11-20T10:00:00Z"), utc("2026-11-20T14:00:00Z")
	rolled := map[int64][]uint64{utc("2026-11-20T11:00:00Z").Unix(): {4, 2}}
	live := map[int64][]uint64{utc("2026-11-20T13:00:00Z").Unix(): {1, 1}}
	got := fillBuckets(Hourly, from, to, 2, rolled, live)
	want := []bucketCounts{
		{utc("2026-11-20T10:00:00Z"), []uint64{0, 0}},
		{utc("2026-11-20T11:00:00Z"), []uint64{4, 2}},
		{utc("2026-11-20T12:00:00Z"), []uint64{0, 0}},
		{utc("2026-11-20T13:00:00Z"), []uint64{1, 1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fillBuckets = %v, want %v", got, want)
	}
	if got := fillBuckets(Hourly, from, to, 2); len(got) != 4 || !reflect.DeepEqual(got[3].counts, []uint64{0, 0}) {
		t.Errorf("fillBuckets without counts = %v, want four buckets of zeros", got)
	}
}

func TestGroupLate(t *testing.T) {
	late := []tenantBucket{
		{"acme", utc("2026-11-01T03:00:00Z")},
		{"acme", utc("2026-11-01T04:00:00Z")},
		{"beta", utc("2026-11-01T04:00:00Z")},
		{"acme", utc("2026-11-01T05:00:00Z")},
		{"acme", utc("2026-11-01T06:00:00Z")},
		{"acme", utc("2026-11-03T06:00:00Z")},
		{"acme", utc("2026-11-20T13:00:00Z")}, // not before `before`: left to the allowance
	}
	before := utc("2026-11-20T12:00:00Z")
	got := groupLate(late, Hourly, before)
	want := []lateGroup{
		{utc("2026-11-01T03:00:00Z"), utc("2026-11-01T04:00:00Z"), []string{"acme"}},
		{utc("2026-11-01T04:00:00Z"), utc("2026-11-01T05:00:00Z"), []string{"acme", "beta"}},
		{utc("2026-11-01T05:00:00Z"), utc("2026-11-01T07:00:00Z"), []string{"acme"}},
		{utc("2026-11-03T06:00:00Z"), utc("2026-11-03T07:00:00Z"), []string{"acme"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groupLate by hour = %v, want %v", got, want)
	}
	gotDays := groupLate(late, Daily, utc("2026-11-18T00:00:00Z"))
	wantDays := []lateGroup{
		{utc("2026-11-01T00:00:00Z"), utc("2026-11-02T00:00:00Z"), []string{"acme", "beta"}},
		{utc("2026-11-03T00:00:00Z"), utc("2026-11-04T00:00:00Z"), []string{"acme"}},
	}
	if !reflect.DeepEqual(gotDays, wantDays) {
		t.Errorf("groupLate by day = %v, want %v", gotDays, wantDays)
	}
}

func TestRollupPlans(t *testing.T) {
	r := NewRollup(nil, RollupConfig{})
	now := utc("2026-11-20T14:30:00Z")
	st := rollupState{hours: utc("2026-11-20T14:00:00Z"), days: utc("2026-11-20T00:00:00Z")}
	got := r.plans(st, now)
	want := []plan{
		{iv: Hourly, oldMark: st.hours, settled: utc("2026-11-20T14:00:00Z"), lateFrom: utc("2026-11-20T12:00:00Z"), sweepBefore: utc("2026-11-20T12:00:00Z")},
		{iv: Daily, oldMark: st.days, settled: utc("2026-11-20T00:00:00Z"), lateFrom: utc("2026-11-18T00:00:00Z"), sweepBefore: utc("2026-11-18T00:00:00Z")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plans = %+v\nwant    %+v", got, want)
	}
	// Within the settle time the hour that just closed stays live.
	if p := r.plans(st, utc("2026-11-20T14:03:00Z"))[0]; !p.settled.Equal(utc("2026-11-20T13:00:00Z")) {
		t.Errorf("settled at 14:03 = %s", p.settled)
	}
	// Never run: nothing rolled up, so nothing for the sweep.
	if p := r.plans(rollupState{}, now)[1]; !p.sweepBefore.IsZero() {
		t.Errorf("sweepBefore of a fresh state = %s", p.sweepBefore)
	}
}

// LoginAnalytics and TokenAnalytics read counts by position: the measures
// must stay in this order.
func TestMeasureOrder(t *testing.T) {
	names := func(k *rollupKind) []string {
		var out []string
		for _, m := range k.measures {
			out = append(out, m.column)
		}
		return out
	}
	if got, want := names(loginKind), []string{"success", "failed", "blocked", "twofa_required", "twofa_failed", "unique_users", "unique_ips"}; !reflect.DeepEqual(got, want) {
		t.Errorf("login measures = %v, want %v", got, want)
	}
	if got, want := names(tokenKind), []string{"authenticated", "failed", "expired", "ip_blocked", "domain_blocked",
		"rate_limited", "created", "rotated", "revoked", "unique_tokens", "test_uses", "live_uses"}; !reflect.DeepEqual(got, want) {
		t.Errorf("token measures = %v, want %v", got, want)
	}
}

// A measure that names a value counts exactly that value's events, so the
// grouped counts (countsSQL) give what its expression gives.
func TestMeasureValues(t *testing.T) {
	for _, k := range []*rollupKind{loginKind, tokenKind} {
		values := 0
		for _, m := range k.measures {
			if m.value == "" {
				continue
			}
			values++
			if want := "uniqExactIf(id, " + k.value + " = '" + m.value + "')"; m.expr != want {
				t.Errorf("%s %s: expression %s, want %s", k.name, m.column, m.expr, want)
			}
		}
		if want := map[string]int{"logins": 5, "tokens": 9}[k.name]; values != want {
			t.Errorf("%s: %d measures name a value, want every %s (%d)", k.name, values, k.value, want)
		}
	}
}

func TestTokenBucketCount(t *testing.T) {
	b := TokenBucket{Authenticated: 1, Failed: 2, Expired: 4, IPBlocked: 8, DomainBlocked: 16, RateLimited: 32,
		Created: 64, Rotated: 128, Revoked: 256, UniqueTokens: 1000, TestUses: 1000, LiveUses: 1000}
	tests := []struct {
		events []string
		want   uint64
	}{
		{nil, 511}, // every action, never the distinct counts
		{[]string{"failed"}, 2},
		{[]string{"failed", "expired", "ip_blocked", "domain_blocked", "rate_limited"}, 62},
		{[]string{"failed", "failed", "revoked"}, 258}, // named twice, counted once
		{[]string{"authenticated", "created", "rotated"}, 193},
		{[]string{"unknown"}, 0},
	}
	for _, tt := range tests {
		if got := b.Count(tt.events); got != tt.want {
			t.Errorf("Count(%v) = %d, want %d", tt.events, got, tt.want)
		}
	}
}
