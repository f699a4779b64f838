package event

import "time"

// Bounds of occurred_at. The lower one is ClickHouse's DateTime epoch (a row
// cannot hold an earlier time); the upper one is ours, to keep obvious typos
// (year 2925) out of the tables and time buckets.
const (
	minYear = 1970
	maxYear = 2099
)

var (
	minTime = time.Date(minYear, time.January, 1, 0, 0, 0, 0, time.UTC)
	endTime = time.Date(maxYear+1, time.January, 1, 0, 0, 0, 0, time.UTC)
)

// parseTimestamp parses an RFC 3339 date-time,
//
//	YYYY-MM-DD "T" hh:mm:ss [ "." 1–9 digits ] ( "Z" | ("+"|"-") hh:mm )
//
// with "T" and "Z" in either case (RFC 3339 §5.6), and returns it in UTC. It is
// written out rather than calling time.Parse so that it accepts exactly what
// the JSON Schema's pattern and date-time format accept: time.Parse wants an
// upper-case "T" and takes any number of fraction digits. A leap second (:60)
// is refused, as Go's time cannot hold it. The year range is left to the caller.
func parseTimestamp(s []byte) (t time.Time, year int, ok bool) {
	// The shortest form is "2006-01-02T15:04:05Z".
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, 0, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, 0, false
	}

	rest := s[19:]
	nsec := 0
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		frac := rest[1:n]
		if len(frac) < 1 || len(frac) > 9 {
			return time.Time{}, 0, false
		}
		for _, c := range frac {
			nsec = nsec*10 + int(c-'0')
		}
		for range 9 - len(frac) {
			nsec *= 10
		}
		rest = rest[n:]
	}

	offset := 0 // seconds east of UTC
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := digits(rest[1:3])
		om, okm := digits(rest[4:6])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, 0, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, 0, false
	}

	// time.Date would do, but it normalises and looks up zones; counting
	// the seconds directly is a good part faster, and the fields are known
	// to be in range.
	secs := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(secs, int64(nsec)).UTC(), year, true
}

// daysSinceEpoch returns the number of days from 1970-01-01 to the given
// date of the proleptic Gregorian calendar (the days_from_civil algorithm of
// Howard Hinnant's "chrono-Compatible Low-Level Date Algorithms").
func daysSinceEpoch(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y-- // count the year from March, so that February comes last
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400 // floor: only January and February of year 0 get here
	}
	yoe := y - era*400
	m := int64(month)
	if m > 2 {
		m -= 3
	} else {
		m += 9
	}
	doy := (153*m+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// digits parses a fixed-width run of ASCII digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
