package event

import "testing"

// A login as a web gateway sends it: a real Chrome user agent, a profile and
// two metadata keys, about 400 bytes.
var benchLogin = []byte(`{"id":"01JG4ZK8V3Q9X6T2M5N7P0R1S8","kind":"login","tenant_id":"acme","user_id":"usr_8f3a2c",` +
	`"occurred_at":"2025-12-27T20:57:29.123Z","ip_address":"203.0.113.42",` +
	`"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",` +
	`"status":"success","user":{"name":"Jane Doe","email":"jane@example.com"},` +
	`"metadata":{"session_id":"sess_4b1e9f","auth_method":"password"}}`)

// A token use as an API gateway sends it.
var benchToken = []byte(`{"id":"9b2f6d0e-5c1a-4e8b-a3f7-2d9c8e1b4a60","kind":"token","tenant_id":"acme","user_id":"usr_8f3a2c",` +
	`"occurred_at":"2025-12-27T21:03:11Z","ip_address":"198.51.100.7","user_agent":"curl/8.5.0",` +
	`"token_id":"tok_live_4eC39HqLyjWDarjtT1zdp7dc","token_name":"CI deploy key","token_type":"sk",` +
	`"environment":"live","event":"authenticated"}`)

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name    string
		subject string
		data    []byte
	}{
		{"login", "auth.events.acme.login", benchLogin},
		{"token", "auth.events.acme.token", benchToken},
	} {
		// Decode is what the consumers call: a pooled Decoder per call.
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.data)))
			for b.Loop() {
				if _, err := Decode(bc.subject, bc.data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/decoder", func(b *testing.B) {
			var d Decoder
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.data)))
			for b.Loop() {
				if _, err := d.Decode(bc.subject, bc.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
