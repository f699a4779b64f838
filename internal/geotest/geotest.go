// Package geotest writes small MaxMind-format City databases for tests and
// for the local demo, so geo enrichment and the geo rules run against the
// same reader code a GeoLite2/GeoIP2 City file goes through.
package geotest

import (
	"fmt"
	"net"
	"os"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Network is one range of the database and the place it maps to.
type Network struct {
	CIDR      string
	Country   string // ISO 3166-1 alpha-2
	City      string
	Latitude  float64
	Longitude float64
}

// Demo lists the ranges cmd/loadgen and the tests use. Several are
// documentation ranges (RFC 5737), which a real database leaves empty.
var Demo = []Network{
	{"81.2.69.0/24", "GB", "London", 51.5142, -0.0931},
	{"2.125.160.0/24", "GB", "Boxford", 51.75, -1.25},
	{"89.160.20.0/24", "SE", "Linköping", 58.4167, 15.6167},
	{"175.16.199.0/24", "CN", "Changchun", 43.88, 125.3228},
	{"216.160.83.0/24", "US", "Milton", 47.2513, -122.3149},
	{"149.101.100.0/24", "US", "Washington", 38.9, -77.03},
	{"67.43.156.0/24", "BT", "Thimphu", 27.4728, 89.639},
	{"202.196.224.0/24", "PH", "Manila", 14.5995, 120.9842},
	{"203.0.113.0/24", "AU", "Sydney", -33.8688, 151.2093},
	{"198.51.100.0/24", "JP", "Tokyo", 35.6762, 139.6503},
	{"192.0.2.0/24", "BR", "São Paulo", -23.5505, -46.6333},
	{"2001:db8:1::/48", "DE", "Berlin", 52.52, 13.405},
}

// Write writes a City database holding networks to path.
func Write(path string, networks []Network) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoIP2-City",
		RecordSize:              28,
		IncludeReservedNetworks: true, // the documentation ranges above are reserved
	})
	if err != nil {
		return err
	}
	for _, n := range networks {
		_, ipnet, err := net.ParseCIDR(n.CIDR)
		if err != nil {
			return fmt.Errorf("geotest: %s: %w", n.CIDR, err)
		}
		rec := mmdbtype.Map{
			"country": mmdbtype.Map{"iso_code": mmdbtype.String(n.Country)},
			"city":    mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(n.City)}},
			"location": mmdbtype.Map{
				"latitude":  mmdbtype.Float64(n.Latitude),
				"longitude": mmdbtype.Float64(n.Longitude),
			},
		}
		if err := tree.Insert(ipnet, rec); err != nil {
			return fmt.Errorf("geotest: insert %s: %w", n.CIDR, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
