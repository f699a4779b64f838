package main

// The fixed facts the generator draws from: networks the demo GeoIP
// database can place, real user-agent strings, names. Nothing here changes
// at run time.

// region is a /24 the demo GeoIP database maps to a country (and often a
// city), with the UTC offset of the people who live there, so their logins
// fall in their daytime.
type region struct {
	country   string
	city      string
	prefix    [3]byte
	utcOffset int // hours
	weight    int // how many users call it home, relatively
}

// regions are the ranges the demo GeoIP database knows (the 203.0.113,
// 198.51.100 and 192.0.2 ranges are documentation networks it maps on
// purpose). Keep in step with that database.
var regions = []region{
	{"GB", "London", [3]byte{81, 2, 69}, 0, 14},
	{"SE", "Linköping", [3]byte{89, 160, 20}, 1, 6},
	{"GB", "", [3]byte{2, 125, 160}, 0, 6},
	{"CN", "Changchun", [3]byte{175, 16, 199}, 8, 6},
	{"US", "Milton", [3]byte{216, 160, 83}, -8, 12},
	{"BT", "", [3]byte{67, 43, 156}, 6, 2},
	{"PH", "", [3]byte{202, 196, 224}, 8, 4},
	{"US", "", [3]byte{149, 101, 100}, -5, 12},
	{"AU", "Sydney", [3]byte{203, 0, 113}, 10, 8},
	{"JP", "Tokyo", [3]byte{198, 51, 100}, 9, 8},
	{"BR", "São Paulo", [3]byte{192, 0, 2}, -3, 6},
}

// Indexes into regions the attacks use by name.
const (
	regionLondon     = 0
	regionChangchun  = 3
	regionBhutan     = 5
	regionPhilippine = 6
	regionSydney     = 8
)

// device is a browser on a platform. Its user agents differ only by
// version: a browser update is not a new device (SPEC §4), so traffic mixes
// them to check that.
type device struct {
	name       string
	userAgents []string
	client     string // metadata "client": how the user reached the login
}

var devices = []device{
	{"chrome-windows", []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36",
	}, "web"},
	{"safari-macos", []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Safari/605.1.15",
	}, "web"},
	{"safari-iphone", []string{
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Mobile/15E148 Safari/604.1",
	}, "ios"},
	{"firefox-linux", []string{
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:134.0) Gecko/20100101 Firefox/134.0",
	}, "web"},
	{"chrome-android", []string{
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36",
		"Mozilla/5.0 (Linux; Android 15; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.6834.79 Mobile Safari/537.36",
	}, "android"},
	{"edge-windows", []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36 Edg/132.0.2957.115",
	}, "web"},
	{"safari-ipad", []string{
		"Mozilla/5.0 (iPad; CPU OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1",
	}, "ios"},
}

// API clients that use tokens from servers; publishable keys are used from
// browsers, with the devices' user agents.
var apiClients = []string{
	"curl/8.5.0",
	"python-requests/2.32.3",
	"Go-http-client/2.0",
	"axios/1.7.9",
	"okhttp/4.12.0",
	"PostmanRuntime/7.43.0",
}

// Attack tooling, as seen in real credential-stuffing traffic.
var attackClients = []string{
	"python-requests/2.31.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36",
	"curl/7.88.1",
}

var tenantNames = []string{
	"acme", "globex", "initech", "umbrella", "hooli",
	"soylent", "wayne", "stark", "tyrell", "wonka",
}

var firstNames = []string{
	"Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken",
	"Frances", "Edsger", "Radia", "Tim", "Hedy", "John", "Katherine", "Guido",
	"Zoë", "José", "Ingrid", "Sven", "Mei", "Hiroshi", "Amara", "Lucas",
}

var lastNames = []string{
	"Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov",
	"Thompson", "Allen", "Dijkstra", "Perlman", "Berners-Lee", "Lamarr", "Backus",
	"Johnson", "van Rossum", "Nilsson", "Chen", "Tanaka", "Okafor", "Silva", "Müller",
}

// Login names tried against accounts that do not exist.
var unknownIdentifiers = []string{
	"admin", "administrator", "root", "test", "info@%s.example", "support@%s.example",
	"j.smith@gmail.com", "m.garcia@yahoo.com", "backup", "guest", "sales@%s.example",
	"webmaster", "oracle", "user1", "demo",
}

var tokenNames = []string{
	"Production API", "CI deploy", "Billing worker", "Zapier", "Mobile app",
	"Analytics export", "Staging", "Webhook relay", "Data sync", "Support dashboard",
}

var apiEndpoints = []string{
	"GET /v1/customers", "POST /v1/charges", "GET /v1/invoices", "POST /v1/refunds",
	"GET /v1/balance", "POST /v1/webhooks", "GET /v1/events",
}
