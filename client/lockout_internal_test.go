package client

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/bus"
)

// The client's exported lockout types are copies of internal/bus's (users
// of this package cannot import internal packages); these tests keep the
// copies identical in format.

func TestLockoutBucketIsTheDetectors(t *testing.T) {
	if LockoutBucket != bus.LockoutBucket {
		t.Fatalf("LockoutBucket = %q, the detector writes %q", LockoutBucket, bus.LockoutBucket)
	}
}

func TestLockoutHasTheFieldsOfBusLockout(t *testing.T) {
	ours, theirs := reflect.TypeFor[Lockout](), reflect.TypeFor[bus.Lockout]()
	if ours.NumField() != theirs.NumField() {
		t.Fatalf("client.Lockout has %d fields, bus.Lockout %d", ours.NumField(), theirs.NumField())
	}
	for i := range ours.NumField() {
		a, b := ours.Field(i), theirs.Field(i)
		if a.Name != b.Name || a.Type != b.Type || a.Tag.Get("json") != b.Tag.Get("json") {
			t.Errorf("field %d: client %s %s `json:%q`, bus %s %s `json:%q`",
				i, a.Name, a.Type, a.Tag.Get("json"), b.Name, b.Type, b.Tag.Get("json"))
		}
	}

	// And the wire form, both ways.
	want := bus.Lockout{TenantID: "acme", IPAddress: "2001:db8::7", FailedAttempts: 5,
		LockedUntil: time.Date(2025, 12, 27, 21, 12, 29, 0, time.UTC)}
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got Lockout
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(data) {
		t.Errorf("client.Lockout marshals to %s, bus.Lockout to %s", again, data)
	}
	if got.TenantID != want.TenantID || got.IPAddress != want.IPAddress || got.FailedAttempts != want.FailedAttempts || !got.LockedUntil.Equal(want.LockedUntil) {
		t.Errorf("read %+v from %s", got, data)
	}
}

// TestLockoutKeyAgreesWithBus checks LockoutKey against the detector's key
// (bus.LockoutKey of the address as event.Decode stores it), and that
// Lockouts reads the detector's keys back to the address Locked looks up.
func TestLockoutKeyAgreesWithBus(t *testing.T) {
	for _, tt := range []struct{ tenant, ip string }{
		{"acme", "203.0.113.7"},
		{"acme", "0.0.0.0"},
		{"t_-9", "255.255.255.255"},
		{"acme", "2001:db8::1"},
		{"acme", "2001:DB8:0:0:0:0:0:1"}, // upper case, zeros spelled out
		{"acme", "2001:db8:0:0:1:0:0:1"}, // the longest run of zeros is compressed
		{"acme", "::ffff:203.0.113.7"},   // IPv4-mapped: the IPv4 address
		{"acme", "::ffff:cb00:7107"},     // the same, in hex
		{"acme", "::"},                   // unspecified
		{"acme", "::1"},                  // loopback
		{"acme", "fe80::1:2:3:4"},        // link-local
		{"acme", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"a-very-long-tenant-id-of-exactly-sixty-four-characters-000000000", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"},
	} {
		// What the detector keys by: the address as the event decoder
		// canonicalises it.
		data, _ := json.Marshal(map[string]string{"id": "k1", "kind": "login", "tenant_id": tt.tenant,
			"occurred_at": "2025-12-27T20:57:29Z", "ip_address": tt.ip, "status": "failed"})
		ev, err := event.Decode(event.Subject(tt.tenant, event.KindLogin), data)
		if err != nil {
			t.Fatalf("%s %s: decode: %v", tt.tenant, tt.ip, err)
		}
		want := bus.LockoutKey(ev.TenantID, ev.IPAddress)

		addr := netip.MustParseAddr(tt.ip)
		if got := CanonicalIP(addr).String(); got != ev.IPAddress {
			t.Errorf("CanonicalIP(%s) = %s, the decoder stores %s", tt.ip, got, ev.IPAddress)
		}
		if got := LockoutKey(tt.tenant, CanonicalIP(addr).String()); got != want {
			t.Errorf("LockoutKey(%s, %s) = %s, the detector's key is %s", tt.tenant, tt.ip, got, want)
		}
		if got := LockoutKey(tt.tenant, ev.IPAddress); got != bus.LockoutKey(tt.tenant, ev.IPAddress) {
			t.Errorf("LockoutKey(%s, %s) = %s, bus.LockoutKey %s", tt.tenant, ev.IPAddress, got, bus.LockoutKey(tt.tenant, ev.IPAddress))
		}
		k, ok := parseLockoutKey(want)
		if !ok || k != (lockKey{tt.tenant, CanonicalIP(addr)}) {
			t.Errorf("parseLockoutKey(%s) = %v, %v; want %s %s", want, k, ok, tt.tenant, CanonicalIP(addr))
		}
	}
	// A zone is not part of the address the detector sees.
	if got := CanonicalIP(netip.MustParseAddr("fe80::1%eth0")); got != netip.MustParseAddr("fe80::1") {
		t.Errorf("CanonicalIP kept the zone: %s", got)
	}
	for _, bad := range []string{"", "acme", "acme.", ".1_2_3_4", "acme.x_y", "ac.me.1_2_3_4", "acme.1_2_3", "acme.1.2.3.4", "acme.1_2_3_4_5", "acme*.1_2_3_4"} {
		if k, ok := parseLockoutKey(bad); ok {
			t.Errorf("parseLockoutKey(%q) = %v, want no lockout key", bad, k)
		}
	}
}
