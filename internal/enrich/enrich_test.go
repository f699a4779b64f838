package enrich_test

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/geotest"
)

func TestParseUserAgent(t *testing.T) {
	tests := []struct {
		name string
		ua   string
		want enrich.Device
	}{
		{"chrome windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			enrich.Device{Type: "desktop", Browser: "Chrome", Platform: "Windows"}},
		{"chrome update is the same device", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36",
			enrich.Device{Type: "desktop", Browser: "Chrome", Platform: "Windows"}},
		{"safari macos", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
			enrich.Device{Type: "desktop", Browser: "Safari", Platform: "macOS"}},
		{"safari iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
			enrich.Device{Type: "mobile", Browser: "Safari", Platform: "iOS"}},
		{"ipad", "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
			enrich.Device{Type: "tablet", Browser: "Safari", Platform: "iPadOS"}},
		{"chrome android phone", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
			enrich.Device{Type: "mobile", Browser: "Chrome", Platform: "Android"}},
		{"android tablet", "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
			enrich.Device{Type: "tablet", Browser: "Chrome", Platform: "Android"}},
		{"firefox linux", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
			enrich.Device{Type: "desktop", Browser: "Firefox", Platform: "Linux"}},
		{"edge windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
			enrich.Device{Type: "desktop", Browser: "Edge", Platform: "Windows"}},
		{"googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
			enrich.Device{Type: "bot", Browser: "Googlebot", Platform: ""}},
		{"empty", "", enrich.Device{Type: "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := enrich.ParseUserAgent(tt.ua); got != tt.want {
				t.Errorf("ParseUserAgent = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUACacheBounded(t *testing.T) {
	c := enrich.NewUACache(2)
	uas := []string{"curl/8.0", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Wget/1.21", "curl/8.0"}
	for _, ua := range uas {
		if got, want := c.Device(ua), enrich.ParseUserAgent(ua); got != want {
			t.Errorf("cached %q = %+v, want %+v", ua, got, want)
		}
	}
}

func TestGeoLookup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	if err := geotest.Write(path, geotest.Demo); err != nil {
		t.Fatal(err)
	}
	db, err := enrich.OpenGeoDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cache := enrich.NewGeoCache(db, 2)
	tests := []struct {
		ip      string
		country string
		city    string
	}{
		{"81.2.69.160", "GB", "London"},
		{"81.2.69.7", "GB", "London"},
		{"203.0.113.9", "AU", "Sydney"},
		{"2001:db8:1::5", "DE", "Berlin"},
		{"::ffff:81.2.69.1", "GB", "London"},
		{"10.0.0.1", "", ""},
	}
	for _, tt := range tests {
		got := cache.Lookup(netip.MustParseAddr(tt.ip))
		if got.Country != tt.country || got.City != tt.city || got.Located != (tt.country != "") {
			t.Errorf("Lookup(%s) = %+v, want %s/%s", tt.ip, got, tt.country, tt.city)
		}
		if direct := db.Lookup(netip.MustParseAddr(tt.ip)); direct != got {
			t.Errorf("cached lookup %+v differs from direct %+v", got, direct)
		}
	}
}

func TestEnricherWithoutGeo(t *testing.T) {
	e := enrich.New(nil)
	r := e.Enrich("curl/8.4.0", "81.2.69.160")
	if r.Country != "" || r.Located {
		t.Errorf("without a database no place is known, got %+v", r.Place)
	}
}

func BenchmarkEnrich(b *testing.B) {
	path := filepath.Join(b.TempDir(), "city.mmdb")
	if err := geotest.Write(path, geotest.Demo); err != nil {
		b.Fatal(err)
	}
	db, err := enrich.OpenGeoDB(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	e := enrich.New(db)
	ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.Enrich(ua, "81.2.69.160")
	}
}
