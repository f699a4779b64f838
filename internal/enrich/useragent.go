// Package enrich derives what the API and the detector need from an event's
// raw fields: the device (type, browser family, platform) from the user
// agent, and the place (country, city, coordinates) from the IP address.
package enrich

import (
	"strings"

	"github.com/mssola/useragent"
)

// Device types (SPEC §2).
const (
	DeviceDesktop = "desktop"
	DeviceMobile  = "mobile"
	DeviceTablet  = "tablet"
	DeviceBot     = "bot"
	DeviceUnknown = "unknown"
)

// Device is what a user agent says about the device. Versions are left out on
// purpose: a device is type + browser family + platform, so a browser update
// is not a new device (SPEC §4).
type Device struct {
	Type     string // desktop, mobile, tablet, bot, unknown
	Browser  string // family: Chrome, Safari, Firefox, Edge, ...; "" when unknown
	Platform string // Windows, macOS, iOS, iPadOS, Android, Linux, ChromeOS, ...; "" when unknown
}

// ParseUserAgent classifies a user agent string. It is pure and costs a few
// microseconds; UACache keeps the answers for the strings seen most.
func ParseUserAgent(s string) Device {
	s = strings.TrimSpace(s)
	if s == "" {
		return Device{Type: DeviceUnknown}
	}
	ua := useragent.New(s)
	browser, _ := ua.Browser()
	d := Device{Browser: browser, Platform: platform(ua, s)}
	switch {
	case ua.Bot():
		d.Type = DeviceBot
	// Android tablets send no "Mobile" token; phones do.
	case d.Platform == "iPadOS" || (d.Platform == "Android" && !strings.Contains(s, "Mobile")):
		d.Type = DeviceTablet
	case ua.Mobile():
		d.Type = DeviceMobile
	case d.Platform == "Windows" || d.Platform == "macOS" || d.Platform == "Linux" || d.Platform == "ChromeOS":
		d.Type = DeviceDesktop
	default:
		d.Type = DeviceUnknown
	}
	// A library that cannot name the browser leaves the product token ("Mozilla"),
	// which says nothing about the device; keep it empty instead.
	if d.Browser == "Mozilla" {
		d.Browser = ""
	}
	return d
}

func platform(ua *useragent.UserAgent, raw string) string {
	p := ua.Platform()
	os := ua.OS()
	switch {
	case p == "iPad" || strings.Contains(raw, "iPad"):
		return "iPadOS"
	case p == "iPhone" || p == "iPod" || p == "iPod touch":
		return "iOS"
	case strings.HasPrefix(os, "Android") || strings.Contains(raw, "Android"):
		return "Android"
	case strings.Contains(os, "Mac OS X") || p == "Macintosh":
		return "macOS"
	case strings.HasPrefix(os, "Windows") || p == "Windows":
		return "Windows"
	case strings.Contains(os, "CrOS") || strings.Contains(raw, "CrOS"):
		return "ChromeOS"
	case strings.Contains(os, "Linux") || p == "X11" || p == "Linux":
		return "Linux"
	}
	return ""
}

// UACache remembers the device of recently seen user agents. Gateways send
// the same few hundred strings over and over, so a small cache turns parsing
// into a map lookup. It is bounded: when full it starts over, which is cheap
// and keeps memory flat whatever an attacker sends. Not safe for concurrent
// use; give each goroutine its own.
type UACache struct {
	max int
	m   map[string]Device
}

// NewUACache returns a cache holding at most max user agents.
func NewUACache(max int) *UACache {
	if max < 1 {
		max = 1
	}
	return &UACache{max: max, m: make(map[string]Device, max)}
}

// Device returns the device of s, parsing it on a miss.
func (c *UACache) Device(s string) Device {
	if d, ok := c.m[s]; ok {
		return d
	}
	d := ParseUserAgent(s)
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[strings.Clone(s)] = d
	return d
}
