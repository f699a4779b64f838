package notify

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// MaxURLLen bounds a webhook URL.
const MaxURLLen = 2048

// reserved are ranges beyond what netip classifies that no public receiver
// uses and that may reach internal services.
var reserved = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "reserved (this network)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved (IETF protocol assignments)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved (benchmarking)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/96"), "reserved (IPv4-compatible)"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private (local NAT64)"},
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// BlockedReason says what kind of address addr is when a webhook may not
// reach it unless WEBHOOK_ALLOW_PRIVATE is true ("loopback", "private",
// "link-local", ...), or "" when it is a public address. An IPv6 address
// that embeds an IPv4 one (mapped, NAT64, 6to4) is judged by that one.
func BlockedReason(addr netip.Addr) string {
	addr = addr.Unmap()
	switch {
	case !addr.IsValid():
		return "invalid"
	case addr.IsUnspecified():
		return "unspecified"
	case addr.IsLoopback():
		return "loopback"
	case addr.IsPrivate():
		return "private"
	case addr.IsLinkLocalUnicast():
		return "link-local"
	case addr.IsMulticast(), addr.IsLinkLocalMulticast(), addr.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, r := range reserved {
		if r.prefix.Contains(addr) {
			return r.what
		}
	}
	if addr.Is6() {
		b := addr.As16()
		var v4 netip.Addr
		switch {
		case nat64.Contains(addr):
			v4 = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		case sixToFour.Contains(addr):
			v4 = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
		}
		if v4.IsValid() {
			if why := BlockedReason(v4); why != "" {
				return why + " (embedded in " + addr.String() + ")"
			}
		}
	}
	return ""
}

// BlockedAddrError is a delivery refused because the webhook's host
// resolved to an address it may not reach.
type BlockedAddrError struct {
	Addr   netip.Addr
	Reason string
}

func (e *BlockedAddrError) Error() string {
	return fmt.Sprintf("refused: %s is a %s address (WEBHOOK_ALLOW_PRIVATE is false)", e.Addr, e.Reason)
}

// DialControl is a net.Dialer Control function that refuses to connect to
// a blocked address. It runs after DNS resolution, on the very address
// dialed, so a name that resolved to a public address when the webhook was
// registered and to a private one now (DNS rebinding) is still refused.
func DialControl(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("refused: %q is not an IP address", host)
	}
	if why := BlockedReason(addr); why != "" {
		return &BlockedAddrError{Addr: addr.Unmap(), Reason: why}
	}
	return nil
}

// URLPolicy checks a webhook URL when it is registered (SPEC §3).
type URLPolicy struct {
	// AllowPrivate lets URLs name loopback, private and link-local
	// addresses (WEBHOOK_ALLOW_PRIVATE=true: tests, on-premises receivers).
	AllowPrivate bool
	// Lookup resolves a host name; nil uses the system resolver.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Check returns what is wrong with raw as a webhook URL, for a person, or
// "" when it is fine: http(s), a host, and (unless AllowPrivate) no host
// that names or resolves to a blocked address, localhost included.
func (p URLPolicy) Check(ctx context.Context, raw string) string {
	if len(raw) > MaxURLLen {
		return fmt.Sprintf("The url may not be greater than %d characters.", MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || strings.ContainsAny(raw, " \t\r\n") {
		return "The url must be a valid URL."
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return "The url must be an http or https URL."
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return "The url must name a host."
	}
	if port := u.Port(); port != "" {
		if n, err := netip.ParseAddrPort("127.0.0.1:" + port); err != nil || n.Port() == 0 {
			return "The url's port must be between 1 and 65535."
		}
	}
	if p.AllowPrivate {
		return ""
	}
	refuse := func(what string) string {
		return "The url must not name or resolve to a loopback, private or link-local address (" + what + ")."
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Zone() != "" {
			return "The url must not name an address with a zone."
		}
		if why := BlockedReason(addr); why != "" {
			return refuse(addr.String() + " is " + why)
		}
		return ""
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return refuse(host + " is loopback")
	}
	lookup := p.Lookup
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := lookup(ctx, host)
	if err != nil || len(addrs) == 0 {
		return "The url's host " + host + " could not be resolved."
	}
	for _, a := range addrs {
		if why := BlockedReason(a); why != "" {
			return refuse(host + " resolves to " + a.Unmap().String() + ", which is " + why)
		}
	}
	return ""
}
