package client_test

import (
	"net/http/httptest"
	"testing"

	"github.com/authwatch/authwatch/client"
)

func TestRemoteIP(t *testing.T) {
	for _, tt := range []struct {
		remote, want string
	}{
		{"203.0.113.7:51234", "203.0.113.7"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[::ffff:203.0.113.7]:443", "203.0.113.7"}, // a dual-stack listener's IPv4 peer
		{"[fe80::1%eth0]:443", "fe80::1"},
		{"203.0.113.7", ""}, // no port: not what net/http sets
		{"@", ""},           // a unix socket
		{"", ""},
	} {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = tt.remote
		r.Header.Set("X-Forwarded-For", "192.0.2.66") // never read by RemoteIP
		ip, ok := client.RemoteIP(r)
		if tt.want == "" {
			if ok {
				t.Errorf("RemoteIP(%q) = %v, want none", tt.remote, ip)
			}
			continue
		}
		if !ok || ip.String() != tt.want {
			t.Errorf("RemoteIP(%q) = %v, %v; want %s", tt.remote, ip, ok, tt.want)
		}
	}
}

func TestTrustedProxies(t *testing.T) {
	fromProxy, err := client.TrustedProxies("10.0.0.0/8", " 192.0.2.10 ", "2001:db8:ffff::/48", "::ffff:172.16.0.0/108", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		remote string
		xff    []string
		realIP string
		want   string
	}{
		{"no proxy", "203.0.113.7:1", nil, "", "203.0.113.7"},
		{"untrusted peer's headers are ignored", "203.0.113.7:1", []string{"198.51.100.1"}, "198.51.100.2", "203.0.113.7"},
		{"one trusted proxy", "10.1.2.3:1", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"single trusted address", "192.0.2.10:1", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"neighbour of a single trusted address is not trusted", "192.0.2.11:1", []string{"198.51.100.1"}, "", "192.0.2.11"},
		{"a chain of trusted proxies", "10.1.2.3:1", []string{"198.51.100.1, 10.9.9.9,10.8.8.8"}, "", "198.51.100.1"},
		{"spoofed entries left of the client are ignored", "10.1.2.3:1", []string{"1.1.1.1, 198.51.100.1, 10.9.9.9"}, "", "198.51.100.1"},
		{"several header lines are one list", "10.1.2.3:1", []string{"1.1.1.1, 198.51.100.1", "10.9.9.9"}, "", "198.51.100.1"},
		{"only trusted hops: the leftmost", "10.1.2.3:1", []string{"10.7.7.7, 10.9.9.9"}, "", "10.7.7.7"},
		{"garbage stops the walk", "10.1.2.3:1", []string{"garbage, 10.9.9.9"}, "", "10.9.9.9"},
		{"garbage next to the proxy", "10.1.2.3:1", []string{"unknown"}, "", "10.1.2.3"},
		{"empty entries are skipped", "10.1.2.3:1", []string{"198.51.100.1,, "}, "", "198.51.100.1"},
		{"entries with ports", "10.1.2.3:1", []string{"198.51.100.1:4711"}, "", "198.51.100.1"},
		{"IPv6 with a port", "10.1.2.3:1", []string{"[2001:db8::7]:4711"}, "", "2001:db8::7"},
		{"IPv6 canonicalised", "10.1.2.3:1", []string{"2001:DB8:0:0:0:0:0:7"}, "", "2001:db8::7"},
		{"IPv4-mapped client", "10.1.2.3:1", []string{"::ffff:198.51.100.1"}, "", "198.51.100.1"},
		{"IPv6 proxy", "[2001:db8:ffff::1]:1", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"IPv4-mapped trusted prefix", "172.16.5.5:1", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:1", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"X-Real-IP from a trusted proxy", "10.1.2.3:1", nil, "198.51.100.1", "198.51.100.1"},
		{"X-Forwarded-For wins over X-Real-IP", "10.1.2.3:1", []string{"198.51.100.1"}, "198.51.100.2", "198.51.100.1"},
		{"bad X-Real-IP", "10.1.2.3:1", nil, "nonsense", "10.1.2.3"},
		{"trusted proxy, no headers", "10.1.2.3:1", nil, "", "10.1.2.3"},
	} {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if tt.realIP != "" {
			r.Header.Set("X-Real-IP", tt.realIP)
		}
		ip, ok := fromProxy(r)
		if !ok || ip.String() != tt.want {
			t.Errorf("%s: got %v, %v; want %s", tt.name, ip, ok, tt.want)
		}
	}

	for _, bad := range []string{"10.0.0.0/33", "not-an-ip", "10.0.0.1/8/8"} {
		if _, err := client.TrustedProxies(bad); err == nil {
			t.Errorf("TrustedProxies(%q): no error", bad)
		}
	}
}
