package detect

import (
	"encoding/binary"
	"slices"
	"time"
)

// The states below are what the detector remembers between events, stored
// as JSON (short keys: a million users must fit in well under a gigabyte).
// Every list is bounded and ages out, so a state stays small however busy
// its user, IP or token is.

// Caps on the lists of a state.
const (
	maxSeen      = 32 // devices, countries, token networks
	maxFailures  = 64
	maxAccounts  = 256 // distinct accounts an IP failed against
	maxRecent    = 16  // events already applied (redelivery), by id hash
	maxRecords   = 8   // verdicts kept to answer a redelivery with
	firedHorizon = 2   // days a per-day dedup entry is kept
)

// Seen is something known with when it was last seen (unix seconds).
type Seen struct {
	Key  string `json:"k"`
	Last int64  `json:"t"`
}

// Place is a success's place and time.
type Place struct {
	At      int64   `json:"t"`
	Country string  `json:"c,omitempty"`
	City    string  `json:"ci,omitempty"`
	Lat     float64 `json:"la,omitempty"`
	Lon     float64 `json:"lo,omitempty"`
	Located bool    `json:"l,omitempty"`
	Device  string  `json:"d,omitempty"`
	IP      string  `json:"ip,omitempty"`
}

// Failure is one failed attempt (unix seconds), by event id so a
// redelivered one is not counted twice.
type Failure struct {
	At int64  `json:"t"`
	ID string `json:"id"`
}

// Fired records that a rule alerted about a subject on a day, for the
// one-alert-per-day limit.
type Fired struct {
	Key string `json:"k"`
	Day int32  `json:"d"`
}

// Record is a verdict given on an event, kept so that the event delivered
// again gets the same verdict without changing the state: the detector
// writes the state before it publishes the alerts, and a crash in between
// must not lose them.
type Record struct {
	Event    uint64   `json:"e"` // hash of the event id (see idHash)
	At       int64    `json:"t"` // the event's time; kept a day
	Rule     Rule     `json:"r"`
	Reasons  []string `json:"w"`
	Until    int64    `json:"u,omitempty"` // ip_lockout: the lock's end
	Attempts int      `json:"n,omitempty"`
}

// UserState is what the detector knows of one user.
type UserState struct {
	Successes uint64    `json:"n,omitempty"` // all-time successes; 0 = the next is the first
	Devices   []Seen    `json:"dv,omitempty"`
	Countries []Seen    `json:"co,omitempty"`
	Last      *Place    `json:"ls,omitempty"` // latest success
	Failures  []Failure `json:"f,omitempty"`  // within FailureWindow of the newest
	Hours     Histogram `json:"h,omitempty"`  // successes per week and hour, HabitWindow long
	Fired     []Fired   `json:"fi,omitempty"`
	Recent    Recent    `json:"r,omitempty"`
	Records   []Record  `json:"v,omitempty"`
}

// IPState is what the detector knows of one IP in one tenant.
type IPState struct {
	Failures    []Failure `json:"f,omitempty"` // toward the next lockout
	LockedUntil int64     `json:"lu,omitempty"`
	Accounts    []Seen    `json:"a,omitempty"` // accounts failed against, last failure each
	Fired       []Fired   `json:"fi,omitempty"`
	Recent      Recent    `json:"r,omitempty"`
	Records     []Record  `json:"v,omitempty"`
}

// TokenState is what the detector knows of one API token.
type TokenState struct {
	First    int64    `json:"t,omitempty"` // first authenticated use
	Networks []Seen   `json:"nw,omitempty"`
	Fired    []Fired  `json:"fi,omitempty"`
	Recent   Recent   `json:"r,omitempty"`
	Records  []Record `json:"v,omitempty"`
}

// Recent holds the 64-bit hashes of the last events applied to a state,
// 8 bytes each (encoded in JSON as base64): event ids are up to 64
// characters, and a state remembers 16 of them.
type Recent []byte

// idHash is the FNV-1a hash of an event id. Two ids of one user, IP or
// token colliding among 16 recent ones is a chance of about 10^-18.
func idHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// applied says whether the event was already applied.
func applied(recent Recent, id string) bool {
	h := idHash(id)
	for i := 0; i+8 <= len(recent); i += 8 {
		if binary.LittleEndian.Uint64(recent[i:]) == h {
			return true
		}
	}
	return false
}

// done remembers that the event at unix time at was applied, with its
// verdicts and lock, and forgets records and fired marks too old to matter.
func done(recent *Recent, records *[]Record, fired *[]Fired, id string, at int64, vs []Verdict, lock *Lock) {
	h := idHash(id)
	*records = slices.DeleteFunc(*records, func(r Record) bool { return r.At < at-86400 })
	day := int32(at / 86400)
	*fired = slices.DeleteFunc(*fired, func(f Fired) bool { return f.Day < day-firedHorizon })
	*recent = binary.LittleEndian.AppendUint64(*recent, h)
	if len(*recent) > 8*maxRecent {
		*recent = slices.Delete(*recent, 0, len(*recent)-8*maxRecent)
	}
	for _, v := range vs {
		r := Record{Event: h, At: at, Rule: v.Rule, Reasons: v.Reasons}
		if v.Rule == IPLockout && lock != nil {
			r.Until, r.Attempts = lock.Until.Unix(), lock.Attempts
		}
		*records = append(*records, r)
	}
	if len(*records) > maxRecords {
		*records = slices.Delete(*records, 0, len(*records)-maxRecords)
	}
}

// again returns the verdicts (and lock) an applied event was given.
func again(records []Record, id string) ([]Verdict, *Lock) {
	h := idHash(id)
	var vs []Verdict
	var lock *Lock
	for _, r := range records {
		if r.Event != h {
			continue
		}
		vs = append(vs, Verdict{Rule: r.Rule, Reasons: r.Reasons})
		if r.Until != 0 {
			lock = &Lock{Until: time.Unix(r.Until, 0).UTC(), Attempts: r.Attempts}
		}
	}
	return vs, lock
}

// Histogram counts a user's successes per (week, UTC hour of day), for
// unusual_hour: 4 bytes per week and hour used (week since 1970 as uint16,
// hour, count up to 255), encoded in JSON as base64. A user with a routine
// uses a few hours a week, so 90 days take about a hundred bytes, where the
// success times themselves would take kilobytes. The window is whole weeks:
// 90 days are the last 13 weeks, this one included.
type Histogram []byte

// weekOf is the week since 1970 of a unix time.
func weekOf(unix int64) uint16 { return uint16(max(unix, 0) / (7 * 86400)) }

// counts returns the successes of weeks [from, to] and those at hour.
func (h Histogram) counts(from, to uint16, hour int) (total, same int) {
	for i := 0; i+4 <= len(h); i += 4 {
		w := binary.LittleEndian.Uint16(h[i:])
		if w < from || w > to {
			continue
		}
		n := int(h[i+3])
		total += n
		if int(h[i+2]) == hour {
			same += n
		}
	}
	return total, same
}

// add counts a success at unix time at and drops weeks before keepFrom.
func (h *Histogram) add(at int64, keepFrom uint16) {
	w, hour := weekOf(at), byte(hourOf(at))
	found := false
	out := (*h)[:0]
	for i := 0; i+4 <= len(*h); i += 4 {
		rec := (*h)[i : i+4]
		rw := binary.LittleEndian.Uint16(rec)
		if rw < keepFrom {
			continue
		}
		if rw == w && rec[2] == hour {
			found = true
			if rec[3] < 255 {
				rec[3]++
			}
		}
		out = append(out, rec...)
	}
	if !found {
		out = binary.LittleEndian.AppendUint16(out, w)
		out = append(out, hour, 1)
	}
	*h = out
}

// Total is how many successes the histogram holds.
func (h Histogram) Total() int {
	n := 0
	for i := 0; i+4 <= len(h); i += 4 {
		n += int(h[i+3])
	}
	return n
}

// find returns the entry for key, or nil.
func find(list []Seen, key string) *Seen {
	for i := range list {
		if list[i].Key == key {
			return &list[i]
		}
	}
	return nil
}

// see records key as seen at t, dropping entries older than horizon and the
// oldest beyond the cap.
func see(list []Seen, key string, t, horizon int64, limit int) []Seen {
	if s := find(list, key); s != nil {
		s.Last = max(s.Last, t)
	} else {
		list = append(list, Seen{Key: key, Last: t})
	}
	list = slices.DeleteFunc(list, func(s Seen) bool { return s.Last < horizon })
	if len(list) > limit {
		slices.SortFunc(list, func(a, b Seen) int { return int(b.Last - a.Last) })
		list = list[:limit]
	}
	return list
}

// addFailure inserts a failure in time order (once per id) and drops those
// before horizon.
func addFailure(list []Failure, f Failure, horizon int64) []Failure {
	if !slices.ContainsFunc(list, func(x Failure) bool { return x.ID == f.ID }) {
		i, _ := slices.BinarySearchFunc(list, f.At, func(x Failure, t int64) int { return int(x.At - t) })
		list = slices.Insert(list, i, f)
	}
	list = slices.DeleteFunc(list, func(x Failure) bool { return x.At < horizon })
	if len(list) > maxFailures {
		list = slices.Delete(list, 0, len(list)-maxFailures)
	}
	return list
}

// fire says whether rule may alert about subject on the event's day, and
// records it when so: at most one alert per (rule, subject) per day.
func fire(fired *[]Fired, rule Rule, subject string, at time.Time) bool {
	day := int32(at.Unix() / 86400)
	key := string(rule) + "|" + subject
	*fired = slices.DeleteFunc(*fired, func(f Fired) bool { return f.Day < day-firedHorizon })
	if slices.ContainsFunc(*fired, func(f Fired) bool { return f.Key == key && f.Day == day }) {
		return false
	}
	*fired = append(*fired, Fired{Key: key, Day: day})
	return true
}
