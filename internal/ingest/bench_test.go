package ingest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/authwatch/authwatch/event"
	"github.com/authwatch/authwatch/internal/enrich"
	"github.com/authwatch/authwatch/internal/geotest"
	"github.com/authwatch/authwatch/internal/store"
)

// BenchmarkEventPath is ingest's per-event CPU work: decode and validate the
// payload, enrich it (user agent, GeoIP), and append it to the column batch.
// Target (spine issue): decode + validate + enrich ≤ 3 µs and ≤ 10 allocs.
func BenchmarkEventPath(b *testing.B) {
	path := filepath.Join(b.TempDir(), "city.mmdb")
	if err := geotest.Write(path, geotest.Demo); err != nil {
		b.Fatal(err)
	}
	geo, err := enrich.OpenGeoDB(path)
	if err != nil {
		b.Fatal(err)
	}
	defer geo.Close()
	payload := []byte(`{"id":"01JH2XK3V9M4Q8R7T6Y5W4E3D2","kind":"login","tenant_id":"acme","user_id":"usr_8f3k2m9q",` +
		`"occurred_at":"2026-11-23T06:30:15.123Z","ip_address":"81.2.69.160",` +
		`"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",` +
		`"status":"success","user":{"name":"Ada Lovelace","email":"ada@acme.example"},"metadata":{"app":"web","region":"eu-west-1"}}`)
	const subject = "auth.events.acme.login"
	var dec event.Decoder
	enr := enrich.New(geo)
	batch := store.NewBatch(10_000)
	now := time.Now()
	b.Run("decode+validate+enrich", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			ev, err := dec.Decode(subject, payload)
			if err != nil {
				b.Fatal(err)
			}
			_ = enr.Enrich(ev.UserAgent, ev.IPAddress)
		}
	})
	b.Run("+batch", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			ev, err := dec.Decode(subject, payload)
			if err != nil {
				b.Fatal(err)
			}
			batch.Add(ev, enr.Enrich(ev.UserAgent, ev.IPAddress), now)
			if i%10_000 == 9_999 {
				batch.Reset()
			}
		}
	})
}
