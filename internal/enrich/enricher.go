package enrich

import "net/netip"

// Result is everything enrichment adds to one event.
type Result struct {
	Device
	Place
}

// Enricher derives a Result from a user agent and an IP address using
// bounded caches. Not safe for concurrent use: one per goroutine, all sharing
// one GeoDB.
type Enricher struct {
	ua  *UACache
	geo *GeoCache
}

// New returns an Enricher; geo may be nil when no GeoIP database is configured.
func New(geo *GeoDB) *Enricher {
	return &Enricher{ua: NewUACache(4096), geo: NewGeoCache(geo, 4096)}
}

// Enrich classifies the user agent and locates the IP (which must already be
// valid, as event.Validate guarantees; an invalid one is simply not located).
func (e *Enricher) Enrich(userAgent, ip string) Result {
	r := Result{Device: e.ua.Device(userAgent)}
	if addr, err := netip.ParseAddr(ip); err == nil {
		r.Place = e.geo.Lookup(addr)
	}
	return r
}
