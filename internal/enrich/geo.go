package enrich

import (
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Place is where an IP address is, as far as the GeoIP database knows.
type Place struct {
	Country   string // ISO 3166-1 alpha-2, "" when unknown
	City      string // English name, "" when unknown
	Latitude  float64
	Longitude float64
	Located   bool // coordinates are known
}

// cityRecord is the part of a GeoIP2/GeoLite2 City record we read; decoding
// only these fields is several times cheaper than the full record.
type cityRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	City struct {
		Names struct {
			EN string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

// GeoDB looks addresses up in a MaxMind-format City database. The reader is
// safe for concurrent use; the per-record cache is not, so each goroutine
// uses its own GeoCache over one shared GeoDB.
type GeoDB struct {
	r *maxminddb.Reader
}

// OpenGeoDB opens a GeoLite2/GeoIP2 City .mmdb file.
func OpenGeoDB(path string) (*GeoDB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip: %w", err)
	}
	return &GeoDB{r: r}, nil
}

// Close releases the database file.
func (g *GeoDB) Close() error { return g.r.Close() }

// Lookup returns the place of addr; Place{} when the database has nothing.
func (g *GeoDB) Lookup(addr netip.Addr) Place {
	p, _ := g.lookup(addr, nil)
	return p
}

func (g *GeoDB) lookup(addr netip.Addr, cache map[uintptr]Place) (Place, uintptr) {
	res := g.r.Lookup(addr.Unmap())
	if !res.Found() {
		return Place{}, 0
	}
	off := res.Offset()
	if p, ok := cache[off]; ok {
		return p, off
	}
	var rec cityRecord
	if err := res.Decode(&rec); err != nil {
		return Place{}, 0
	}
	p := Place{Country: rec.Country.ISOCode, City: rec.City.Names.EN}
	if rec.Location.Latitude != nil && rec.Location.Longitude != nil {
		p.Latitude, p.Longitude, p.Located = *rec.Location.Latitude, *rec.Location.Longitude, true
	}
	return p, off
}

// GeoCache remembers decoded records by their place in the database, so the
// many addresses that share a record (a city's ranges) decode once. Bounded
// like UACache. Not safe for concurrent use.
type GeoCache struct {
	db  *GeoDB
	max int
	m   map[uintptr]Place
}

// NewGeoCache returns a cache over db holding at most max records; db may be nil
// (no database configured), then every lookup is Place{}.
func NewGeoCache(db *GeoDB, max int) *GeoCache {
	return &GeoCache{db: db, max: max, m: make(map[uintptr]Place)}
}

// Lookup returns the place of addr.
func (c *GeoCache) Lookup(addr netip.Addr) Place {
	if c.db == nil || !addr.IsValid() {
		return Place{}
	}
	p, off := c.db.lookup(addr, c.m)
	if off != 0 {
		if _, seen := c.m[off]; !seen {
			if len(c.m) >= c.max {
				clear(c.m)
			}
			c.m[off] = p
		}
	}
	return p
}
