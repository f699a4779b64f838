package client

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIPFunc finds the address of the client that sent r; ok is false
// when it cannot tell. LoginGuard uses one both to check lockouts and to
// fill ip_address, so that the detector locks the address the check asks about.
type ClientIPFunc func(r *http.Request) (ip netip.Addr, ok bool)

// RemoteIP is the default ClientIPFunc: the address of the TCP peer
// (r.RemoteAddr), which is the client when nothing stands in between.
// Behind a reverse proxy or load balancer use TrustedProxies instead, or
// every client gets the proxy's address, and one client's failures lock
// out everyone.
func RemoteIP(r *http.Request) (netip.Addr, bool) {
	return parseHostPort(r.RemoteAddr)
}

// TrustedProxies returns a ClientIPFunc for a service behind proxies. It
// believes X-Forwarded-For and X-Real-IP only when the TCP peer is one of
// the trusted proxies, since anyone else can write those headers:
//
//   - The peer is not trusted: the peer's address (as RemoteIP).
//   - X-Forwarded-For is present: its addresses are read from the right
//     (the nearest hop) leftwards, skipping trusted proxies; the first
//     address that is not a trusted proxy is the client. When every one
//     is trusted, the leftmost is. An entry that is not an address stops
//     the walk: the last address read is taken.
//   - Otherwise X-Real-IP, when it holds an address.
//   - Otherwise the peer's address.
//
// cidrs are prefixes ("10.0.0.0/8", "2001:db8::/32") or single addresses
// ("192.0.2.10"). IPv4-mapped IPv6 addresses count as their IPv4 address.
func TrustedProxies(cidrs ...string) (ClientIPFunc, error) {
	var trusted []netip.Prefix
	for _, s := range cidrs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := parsePrefix(s)
		if err != nil {
			return nil, err
		}
		trusted = append(trusted, p)
	}
	isTrusted := func(ip netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) (netip.Addr, bool) {
		peer, ok := parseHostPort(r.RemoteAddr)
		if !ok || !isTrusted(peer) {
			return peer, ok
		}
		// Header values are read through the map, not Header.Get, to save
		// canonicalising the constant names on every request.
		if xff := r.Header["X-Forwarded-For"]; len(xff) > 0 {
			return fromForwardedFor(xff, peer, isTrusted), true
		}
		if xri := r.Header["X-Real-Ip"]; len(xri) > 0 {
			if ip, ok := parseHop(xri[0]); ok {
				return ip, true
			}
		}
		return peer, true
	}, nil
}

// fromForwardedFor walks the X-Forwarded-For lines (several header lines
// are one list, in order) from the right; see TrustedProxies.
func fromForwardedFor(lines []string, peer netip.Addr, isTrusted func(netip.Addr) bool) netip.Addr {
	last := peer
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			hop := rest
			if comma := strings.LastIndexByte(rest, ','); comma >= 0 {
				hop, rest = rest[comma+1:], rest[:comma]
			} else {
				rest = ""
			}
			hop = strings.TrimSpace(hop)
			if hop == "" {
				continue
			}
			ip, ok := parseHop(hop)
			if !ok {
				return last
			}
			if !isTrusted(ip) {
				return ip
			}
			last = ip
		}
	}
	return last
}

// parseHop reads one address of a forwarding header: a bare address, or
// one with a port ("192.0.2.1:4711", "[2001:db8::1]:4711").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ip, err := netip.ParseAddr(s); err == nil {
		return CanonicalIP(ip), true
	}
	return parseHostPort(s)
}

func parseHostPort(s string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return CanonicalIP(ap.Addr()), true
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("client: trusted proxy %q: %w", s, err)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("client: trusted proxy %q is neither an address nor a CIDR prefix", s)
	}
	ip = CanonicalIP(ip)
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}
