package notify

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/detect"
)

func TestWants(t *testing.T) {
	all := Webhook{Rules: []string{"*"}, MinSeverity: detect.Low}
	highOnly := Webhook{Rules: []string{"*"}, MinSeverity: detect.High}
	some := Webhook{Rules: []string{"new_device", "ip_lockout"}, MinSeverity: detect.Medium}
	for _, tc := range []struct {
		name string
		w    Webhook
		rule detect.Rule
		sev  detect.Severity
		want bool
	}{
		{"all, low", all, detect.NewDevice, detect.Low, true},
		{"all, high", all, detect.IPLockout, detect.High, true},
		{"high only, medium", highOnly, detect.NewCountry, detect.Medium, false},
		{"high only, high", highOnly, detect.ImpossibleTravel, detect.High, true},
		{"listed rule below min severity", some, detect.NewDevice, detect.Low, false},
		{"listed rule at or above", some, detect.IPLockout, detect.High, true},
		{"listed rule, severity raised by config", some, detect.NewDevice, detect.Medium, true},
		{"unlisted rule", some, detect.PasswordSpray, detect.High, false},
		{"unknown severity", all, detect.NewDevice, "", false},
	} {
		if got := tc.w.Wants(tc.rule, tc.sev); got != tc.want {
			t.Errorf("%s: Wants(%s, %s) = %v, want %v", tc.name, tc.rule, tc.sev, got, tc.want)
		}
	}
}

func TestBlockedReason(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want string // "" = allowed; else a prefix of the reason
	}{
		{"93.184.215.14", ""},
		{"8.8.8.8", ""},
		{"2606:4700::1111", ""},
		{"203.0.113.7", ""}, // documentation range: not routable, not internal
		{"127.0.0.1", "loopback"},
		{"127.9.9.9", "loopback"},
		{"::1", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"172.32.0.1", ""},
		{"192.168.1.1", "private"},
		{"fd00::1", "private"},
		{"169.254.169.254", "link-local"}, // cloud metadata
		{"fe80::1", "link-local"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"224.0.0.1", "multicast"},
		{"ff02::1", "multicast"},
		{"0.1.2.3", "reserved"},
		{"100.64.0.1", "shared"},
		{"198.18.0.1", "reserved"},
		{"255.255.255.255", "reserved"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.0.0.1", "private"},
		{"64:ff9b::a00:1", "private"},       // NAT64 of 10.0.0.1
		{"64:ff9b::808:808", ""},            // NAT64 of 8.8.8.8
		{"2002:a9fe:a9fe::1", "link-local"}, // 6to4 of 169.254.169.254
		{"2002:5db8:d70e::1", ""},           // 6to4 of 93.184.215.14
		{"fec0::1", "site-local"},
	} {
		got := BlockedReason(netip.MustParseAddr(tc.addr))
		if tc.want == "" && got != "" || tc.want != "" && !strings.HasPrefix(got, tc.want) {
			t.Errorf("BlockedReason(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestDialControl(t *testing.T) {
	err := DialControl("tcp", "127.0.0.1:80", nil)
	var blocked *BlockedAddrError
	if !errors.As(err, &blocked) || blocked.Reason != "loopback" {
		t.Errorf("DialControl(127.0.0.1) = %v, want a loopback refusal", err)
	}
	if err := DialControl("tcp", "[::ffff:169.254.169.254]:80", nil); !errors.As(err, &blocked) || blocked.Addr.String() != "169.254.169.254" {
		t.Errorf("DialControl(mapped metadata address) = %v", err)
	}
	if err := DialControl("tcp", "93.184.215.14:443", nil); err != nil {
		t.Errorf("DialControl(public) = %v", err)
	}
}

func TestURLPolicy(t *testing.T) {
	dns := map[string][]string{
		"hooks.example.com":  {"93.184.215.14"},
		"rebind.example.com": {"93.184.215.14", "10.0.0.5"},
		"meta.example.com":   {"169.254.169.254"},
		"v6.example.com":     {"::1"},
	}
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, a := range dns[host] {
			out = append(out, netip.MustParseAddr(a))
		}
		if out == nil {
			return nil, errors.New("no such host")
		}
		return out, nil
	}
	strict := URLPolicy{Lookup: lookup}
	open := URLPolicy{AllowPrivate: true, Lookup: lookup}
	for _, tc := range []struct {
		url        string
		strict     string // "" = accepted; else a substring of the problem
		allowPrivE string // the same with AllowPrivate
	}{
		{"https://hooks.example.com/authwatch", "", ""},
		{"http://hooks.example.com:8080/x?y=1", "", ""},
		{"HTTPS://HOOKS.EXAMPLE.COM/", "", ""},
		{"https://93.184.215.14/hook", "", ""},
		{"ftp://hooks.example.com/", "http or https", "http or https"},
		{"hooks.example.com/path", "http or https", "http or https"},
		{"https:///nohost", "name a host", "name a host"},
		{"https://hooks.example.com:0/", "port", "port"},
		{"https://hooks.example.com:99999/", "port", "port"},
		{"http://exa mple.com/", "valid URL", "valid URL"},
		{"https://localhost/", "localhost is loopback", ""},
		{"https://LOCALHOST./", "localhost is loopback", ""},
		{"https://api.localhost:8443/", "loopback", ""},
		{"http://127.0.0.1:9000/", "127.0.0.1 is loopback", ""},
		{"http://[::1]/", "loopback", ""},
		{"http://10.0.0.1/", "private", ""},
		{"http://169.254.169.254/latest/meta-data", "link-local", ""},
		{"http://0.0.0.0/", "unspecified", ""},
		{"http://[fe80::1%25eth0]/", "zone", ""},
		{"https://rebind.example.com/", "resolves to 10.0.0.5", ""},
		{"https://meta.example.com/", "link-local", ""},
		{"https://v6.example.com/", "loopback", ""},
		{"https://nxdomain.example.com/", "could not be resolved", ""},
		{"https://hooks.example.com/" + strings.Repeat("a", MaxURLLen), "greater than", "greater than"},
	} {
		if got := strict.Check(context.Background(), tc.url); !matches(got, tc.strict) {
			t.Errorf("strict Check(%q) = %q, want %q", tc.url, got, tc.strict)
		}
		if got := open.Check(context.Background(), tc.url); !matches(got, tc.allowPrivE) {
			t.Errorf("allow-private Check(%q) = %q, want %q", tc.url, got, tc.allowPrivE)
		}
	}
}

func matches(got, want string) bool {
	if want == "" {
		return got == ""
	}
	return strings.Contains(got, want)
}

func TestSignatureAndVerify(t *testing.T) {
	at := time.Unix(1_767_000_000, 0)
	body := []byte(`{"id":"a1"}`)
	sig := Signature("topsecret-topsecret", at, body)
	// Known answer: HMAC-SHA256("topsecret-topsecret", "1767000000.{\"id\":\"a1\"}").
	if want := "t=1767000000,v1=" + sign("topsecret-topsecret", "1767000000", body); sig != want {
		t.Fatalf("Signature = %q, want %q", sig, want)
	}
	if len(strings.TrimPrefix(sig, "t=1767000000,v1=")) != 64 {
		t.Fatalf("v1 is not 64 hex digits: %q", sig)
	}
	for _, tc := range []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", "topsecret-topsecret", sig, body, at.Add(time.Minute), nil},
		{"valid at the edge", "topsecret-topsecret", sig, body, at.Add(5 * time.Minute), nil},
		{"replayed later", "topsecret-topsecret", sig, body, at.Add(5*time.Minute + time.Second), ErrSignatureTooOld},
		{"from the future", "topsecret-topsecret", sig, body, at.Add(-10 * time.Minute), ErrSignatureTooOld},
		{"wrong secret", "another-secret-entirely", sig, body, at, ErrSignatureMismatch},
		{"body changed", "topsecret-topsecret", sig, []byte(`{"id":"a2"}`), at, ErrSignatureMismatch},
		{"timestamp changed", "topsecret-topsecret", strings.Replace(sig, "t=1767000000", "t=1767000001", 1), body, at, ErrSignatureMismatch},
		{"second v1 matches", "topsecret-topsecret", "t=1767000000,v1=00," + strings.Split(sig, ",")[1], body, at, nil},
		{"no v1", "topsecret-topsecret", "t=1767000000", body, at, ErrBadSignatureHeader},
		{"garbage", "topsecret-topsecret", "hello", body, at, ErrBadSignatureHeader},
	} {
		if err := Verify(tc.secret, tc.header, tc.body, tc.now, 5*time.Minute); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func testAlert() detect.Alert {
	user, country := "alice", "AU"
	at := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	return detect.Alert{ID: "a1", TenantID: "acme", UserID: &user, EventID: "e1", Rule: detect.ImpossibleTravel,
		Severity: detect.High, Reasons: []string{"17021 km from London, GB to Sydney, AU in 10m0s", "<!channel> & co"},
		IPAddress: "203.0.113.5", Country: &country, OccurredAt: at, DetectedAt: at.Add(time.Second)}
}

func TestBody(t *testing.T) {
	doc, err := testAlert().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Body(FormatJSON, doc)
	if err != nil || string(got) != string(doc) {
		t.Errorf("json body = %s, %v; want the alert JSON itself", got, err)
	}
	got, err = Body(FormatSlack, doc)
	if err != nil {
		t.Fatal(err)
	}
	var msg map[string]string
	if err := json.Unmarshal(got, &msg); err != nil || len(msg) != 1 {
		t.Fatalf("slack body %s: want {\"text\": ...} alone (%v)", got, err)
	}
	text := msg["text"]
	for _, want := range []string{"impossible_travel", "high", "alice", "203.0.113.5", "AU", "17021 km from London", "&lt;!channel&gt; &amp; co", "2026-11-23T11:00:00Z"} {
		if !strings.Contains(text, want) {
			t.Errorf("slack text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "<!channel>") {
		t.Errorf("slack text lets an event ping a channel:\n%s", text)
	}
	// Without user and country.
	a := testAlert()
	a.UserID, a.Country = nil, nil
	doc, _ = a.Marshal()
	got, _ = Body(FormatSlack, doc)
	if !strings.Contains(string(got), "unknown account") || !strings.Contains(string(got), "Country:* unknown") {
		t.Errorf("slack text without user and country: %s", got)
	}
	if _, err := Body("xml", doc); err == nil {
		t.Error("an unknown format is accepted")
	}
}

func TestDefaultSchedule(t *testing.T) {
	s := DefaultSchedule()
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := first
	var offsets []time.Duration
	attempts := 1
	for {
		next, ok := s.Next(attempts, first, at)
		if !ok {
			break
		}
		at = next
		attempts++
		offsets = append(offsets, at.Sub(first))
	}
	want := []time.Duration{10 * time.Second, 40 * time.Second, 100 * time.Second, 400 * time.Second, 1300 * time.Second, 1300*time.Second + time.Hour}
	for i, w := range want {
		if offsets[i] != w {
			t.Errorf("attempt %d at +%s, want +%s", i+2, offsets[i], w)
		}
	}
	if attempts != 29 {
		t.Errorf("%d attempts in all, want 29", attempts)
	}
	if last := offsets[len(offsets)-1]; last > 24*time.Hour || last < 23*time.Hour {
		t.Errorf("last attempt at +%s, want within the 24th hour", last)
	}
}

func TestParseDelays(t *testing.T) {
	d, err := ParseDelays("10s, 30s,1m")
	if err != nil || len(d) != 3 || d[2] != time.Minute {
		t.Errorf("ParseDelays = %v, %v", d, err)
	}
	for _, bad := range []string{"", "10s,,1m", "soon", "-1s", "0s"} {
		if _, err := ParseDelays(bad); err == nil {
			t.Errorf("ParseDelays(%q) accepted", bad)
		}
	}
}

func TestDecide(t *testing.T) {
	s := Schedule{Delays: []time.Duration{time.Second, 2 * time.Second}, For: 5 * time.Second}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j := NewJob(Webhook{ID: "wh_1", TenantID: "acme"}, "a1", []byte(`{}`))
	if o, _ := Decide(s, j, t0, t0, true); o != Delivered {
		t.Errorf("success: %s", o)
	}
	o, n := Decide(s, j, t0, t0, false)
	if o != Retrying || n.Attempt != 2 || !n.FirstAt.Equal(t0) || !n.NotBefore.Equal(t0.Add(time.Second)) || n.DeliveryID != j.DeliveryID {
		t.Fatalf("first failure: %s %+v", o, n)
	}
	o, n = Decide(s, n, t0.Add(time.Second), t0.Add(time.Second), false)
	if o != Retrying || n.Attempt != 3 || !n.NotBefore.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("second failure: %s %+v", o, n)
	}
	o, n = Decide(s, n, t0.Add(3*time.Second), t0.Add(3*time.Second), false) // next would be +5 s: still within
	if o != Retrying || n.Attempt != 4 {
		t.Fatalf("third failure: %s %+v", o, n)
	}
	if o, _ = Decide(s, n, t0.Add(5*time.Second), t0.Add(5*time.Second), false); o != Failed {
		t.Errorf("fourth failure past the span: %s, want failed", o)
	}
	// The delay counts from the end of the failed attempt; the span from
	// the start of the first.
	if o, n := Decide(s, j, t0, t0.Add(500*time.Millisecond), false); o != Retrying || !n.FirstAt.Equal(t0) ||
		!n.NotBefore.Equal(t0.Add(1500*time.Millisecond)) {
		t.Errorf("a slow failure: %s %+v", o, n)
	}
	if n.MsgID() != j.DeliveryID+".4" || n.Subject() != "auth.deliveries.acme.wh_1" {
		t.Errorf("MsgID %s, Subject %s", n.MsgID(), n.Subject())
	}
}

func TestDeliveryIDAndJobs(t *testing.T) {
	if DeliveryID("wh_1", "a1") != DeliveryID("wh_1", "a1") || DeliveryID("wh_1", "a1") == DeliveryID("wh_2", "a1") ||
		DeliveryID("wh_1a", "1") == DeliveryID("wh_1", "a1") {
		t.Error("delivery ids are not one per (webhook, alert)")
	}
	id := NewWebhookID()
	if !ValidID(id) || !strings.HasPrefix(id, "wh_") || id == NewWebhookID() {
		t.Errorf("NewWebhookID = %q", id)
	}
	for _, bad := range []string{"", "a.b", "*", ">", "a b", strings.Repeat("x", 65)} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q)", bad)
		}
	}
	j := NewJob(Webhook{ID: "wh_1", TenantID: "acme"}, "a1", []byte(`{"id":"a1"}`))
	data, _ := json.Marshal(j)
	back, err := ParseJob(data)
	if err != nil || back.DeliveryID != j.DeliveryID || string(back.Alert) != `{"id":"a1"}` || !back.FirstAt.IsZero() {
		t.Errorf("job round trip: %+v, %v (%s)", back, err, data)
	}
	for _, bad := range []string{`nope`, `{}`, `{"delivery_id":"d","tenant_id":"a.b","webhook_id":"w","alert_id":"a","alert":{},"attempt":1}`} {
		if _, err := ParseJob([]byte(bad)); err == nil {
			t.Errorf("ParseJob(%s) accepted", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	ptr := func(s string) *string { return &s }
	rules := func(r ...string) *[]string { return &r }
	policy := URLPolicy{Lookup: func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
	}}
	good := Input{URL: ptr("https://hooks.example.com/a"), Secret: ptr("0123456789abcdef")}
	w, p := Validate(context.Background(), good, policy)
	if len(p) != 0 || w.Format != FormatJSON || w.MinSeverity != detect.Low || len(w.Rules) != 1 || w.Rules[0] != "*" || w.Secret != "0123456789abcdef" {
		t.Errorf("defaults: %+v %v", w, p)
	}
	full := Input{URL: ptr("https://hooks.example.com/a"), Rules: rules("ip_lockout", "password_spray", "ip_lockout"),
		MinSeverity: ptr("high"), Format: ptr("slack"), Secret: ptr(strings.Repeat("s", 40))}
	w, p = Validate(context.Background(), full, policy)
	if len(p) != 0 || w.Format != FormatSlack || w.MinSeverity != detect.High || strings.Join(w.Rules, ",") != "ip_lockout,password_spray" {
		t.Errorf("full: %+v %v", w, p)
	}
	for _, tc := range []struct {
		name  string
		in    Input
		field string
	}{
		{"no url", Input{Secret: good.Secret}, "url"},
		{"blank url", Input{URL: ptr("  "), Secret: good.Secret}, "url"},
		{"loopback url", Input{URL: ptr("http://127.0.0.1/"), Secret: good.Secret}, "url"},
		{"no secret", Input{URL: good.URL}, "secret"},
		{"short secret", Input{URL: good.URL, Secret: ptr("short")}, "secret"},
		{"long secret", Input{URL: good.URL, Secret: ptr(strings.Repeat("s", 257))}, "secret"},
		{"empty rules", Input{URL: good.URL, Secret: good.Secret, Rules: rules()}, "rules"},
		{"unknown rule", Input{URL: good.URL, Secret: good.Secret, Rules: rules("new_device", "sneezed")}, "rules"},
		{"star and names", Input{URL: good.URL, Secret: good.Secret, Rules: rules("*", "new_device")}, "rules"},
		{"bad severity", Input{URL: good.URL, Secret: good.Secret, MinSeverity: ptr("critical")}, "min_severity"},
		{"bad format", Input{URL: good.URL, Secret: good.Secret, Format: ptr("xml")}, "format"},
	} {
		_, p := Validate(context.Background(), tc.in, policy)
		if len(p) != 1 || len(p[tc.field]) == 0 {
			t.Errorf("%s: problems %v, want one with %s", tc.name, p, tc.field)
		}
	}
	if _, p := Validate(context.Background(), Input{}, policy); len(p) != 2 {
		t.Errorf("empty input: %v, want url and secret", p)
	}
}

func TestSampleAlert(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 500, time.UTC)
	a := SampleAlert(Webhook{TenantID: "acme", Rules: []string{"password_spray"}}, now)
	if a.Rule != detect.PasswordSpray || a.Severity != detect.High || a.TenantID != "acme" || !strings.HasPrefix(a.ID, "test_") {
		t.Errorf("sample: %+v", a)
	}
	if b := SampleAlert(Webhook{TenantID: "acme", Rules: []string{"*"}}, now); b.Rule != detect.NewDevice || b.ID == a.ID {
		t.Errorf("sample for *: %+v", b)
	}
}
