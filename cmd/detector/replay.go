package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authwatch/authwatch/internal/detect"
	"github.com/authwatch/authwatch/internal/store"
)

// replay is `detector replay`: the rules of the running configuration (or
// of -set overrides) on stored history, from fresh state, printing what
// would have fired. It reads ClickHouse only: nothing is published, no
// live state or lockout is touched.
func replay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("detector replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fromS := fs.String("from", "", "first day, YYYY-MM-DD (UTC)")
	toS := fs.String("to", "", "last day, YYYY-MM-DD (UTC), included")
	tenant := fs.String("tenant", "", "one tenant only (default: all)")
	examples := fs.Int("examples", 3, "examples to print per rule")
	overrides := map[string]string{}
	fs.Func("set", "NAME=VALUE: a rule setting for this replay (DETECT_*, LOCKOUT_ALLOW_CIDRS); repeatable", func(s string) error {
		name, value, ok := strings.Cut(s, "=")
		if !ok || !strings.HasPrefix(name, "DETECT_") && name != "LOCKOUT_ALLOW_CIDRS" {
			return fmt.Errorf("want DETECT_…=value or LOCKOUT_ALLOW_CIDRS=value, got %q", s)
		}
		overrides[name] = value
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: detector replay -from YYYY-MM-DD -to YYYY-MM-DD [-tenant T] [-set DETECT_…=value …]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	from, err1 := time.Parse(time.DateOnly, *fromS)
	to, err2 := time.Parse(time.DateOnly, *toS)
	if err1 != nil || err2 != nil || to.Before(from) {
		fs.Usage()
		return errors.New("replay: -from and -to are days, YYYY-MM-DD, with -from not after -to")
	}
	env := func(k string) string {
		if v, ok := overrides[k]; ok {
			return v
		}
		return getenv(k)
	}
	rules, err := detect.FromEnv(env, getenv("GEOIP_CITY_DB") != "")
	if err != nil {
		return err
	}
	scfg, err := store.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, scfg)
	if err != nil {
		return err
	}
	defer st.Close()

	bt := newBacktest(rules, *examples)
	if err := st.History(ctx, *tenant, from, to.AddDate(0, 0, 1), func(e store.Stored) error {
		bt.apply(e)
		return ctx.Err()
	}); err != nil {
		return err
	}
	bt.report(stdout, from, to, rules)
	return nil
}

// backtest runs the rules on fresh, in-memory state.
type backtest struct {
	rules    detect.Config
	examples int
	users    map[string]*detect.UserState
	ips      map[string]*detect.IPState
	tokens   map[string]*detect.TokenState
	events   int
	per      map[detect.Rule]*ruleTally
}

type ruleTally struct {
	alerts   int
	subjects map[string]bool // users (or IPs, tokens) alerted
	examples []string
}

func newBacktest(rules detect.Config, examples int) *backtest {
	return &backtest{rules: rules, examples: examples, users: map[string]*detect.UserState{}, ips: map[string]*detect.IPState{},
		tokens: map[string]*detect.TokenState{}, per: map[detect.Rule]*ruleTally{}}
}

func (b *backtest) apply(e store.Stored) {
	b.events++
	if l := e.Login; l != nil {
		if l.UserID != "" {
			k := l.TenantID + "\x00" + l.UserID
			st := b.users[k]
			if st == nil {
				st = &detect.UserState{}
				b.users[k] = st
			}
			b.count(b.rules.User(st, *l), l.TenantID, l.UserID, l.ID, l.IP, l.At)
		}
		k := l.TenantID + "\x00" + l.IP
		st := b.ips[k]
		if st == nil {
			st = &detect.IPState{}
		}
		vs, _ := b.rules.IP(st, *l)
		if len(st.Recent) > 0 {
			b.ips[k] = st
		}
		b.count(vs, l.TenantID, l.UserID, l.ID, l.IP, l.At)
	}
	if t := e.Token; t != nil {
		k := t.TenantID + "\x00" + t.TokenID
		st := b.tokens[k]
		if st == nil {
			st = &detect.TokenState{}
			b.tokens[k] = st
		}
		b.count(b.rules.Token(st, *t), t.TenantID, "token "+t.TokenID, t.ID, t.IP, t.At)
	}
}

func (b *backtest) count(vs []detect.Verdict, tenant, subject, eventID, ip string, at time.Time) {
	for _, v := range vs {
		t := b.per[v.Rule]
		if t == nil {
			t = &ruleTally{subjects: map[string]bool{}}
			b.per[v.Rule] = t
		}
		t.alerts++
		who := subject
		if who == "" {
			who = "ip " + ip
		}
		t.subjects[tenant+"/"+who] = true
		if len(t.examples) < b.examples {
			t.examples = append(t.examples, fmt.Sprintf("%s %s/%s event %s: %s", at.UTC().Format(time.RFC3339), tenant, who, eventID, strings.Join(v.Reasons, "; ")))
		}
	}
}

func (b *backtest) report(w io.Writer, from, to time.Time, rules detect.Config) {
	fmt.Fprintf(w, "replayed %d stored events of %s to %s on fresh state (nothing published, no live state touched)\n\n",
		b.events, from.Format(time.DateOnly), to.Format(time.DateOnly))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rule\talerts\tusers/IPs/tokens\t")
	for _, r := range detect.Rules {
		switch {
		case !rules.On(r):
			fmt.Fprintf(tw, "%s\toff\t\t\n", r)
		case b.per[r] == nil:
			fmt.Fprintf(tw, "%s\t0\t0\t\n", r)
		default:
			fmt.Fprintf(tw, "%s\t%d\t%d\t\n", r, b.per[r].alerts, len(b.per[r].subjects))
		}
	}
	tw.Flush()
	rs := make([]detect.Rule, 0, len(b.per))
	for r := range b.per {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i] < rs[j] })
	for _, r := range rs {
		fmt.Fprintf(w, "\n%s, for example:\n", r)
		for _, e := range b.per[r].examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}
