package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/authwatch/authwatch/internal/detect"
)

// Secret length bounds: 16 bytes is the least an HMAC key should be (the
// API's own HS256 secret has the same floor); 256 is plenty.
const (
	MinSecretLen = 16
	MaxSecretLen = 256
)

// Input is a webhook as POSTed; nil fields were absent (or null) and take
// their defaults.
type Input struct {
	URL         *string
	Rules       *[]string
	MinSeverity *string
	Format      *string
	Secret      *string
}

// Problems names each field that is wrong with what is wrong with it.
type Problems map[string][]string

func (p Problems) add(field, msg string) { p[field] = append(p[field], msg) }

// Validate checks an input and fills in the defaults (rules ["*"],
// min_severity low, format json). It returns the webhook without id,
// tenant and time, and the problems, empty when there are none.
func Validate(ctx context.Context, in Input, urls URLPolicy) (Webhook, Problems) {
	p := Problems{}
	w := Webhook{Rules: []string{AllRules}, MinSeverity: detect.Low, Format: FormatJSON}
	if in.URL == nil || strings.TrimSpace(*in.URL) == "" {
		p.add("url", "The url field is required.")
	} else if msg := urls.Check(ctx, *in.URL); msg != "" {
		p.add("url", msg)
	} else {
		w.URL = *in.URL
	}
	if in.Rules != nil {
		rules, msg := validRules(*in.Rules)
		if msg != "" {
			p.add("rules", msg)
		}
		w.Rules = rules
	}
	if in.MinSeverity != nil {
		switch s := detect.Severity(*in.MinSeverity); s {
		case detect.Low, detect.Medium, detect.High:
			w.MinSeverity = s
		default:
			p.add("min_severity", "The selected min_severity is invalid; use one of: low, medium, high.")
		}
	}
	if in.Format != nil {
		switch f := Format(*in.Format); f {
		case FormatJSON, FormatSlack:
			w.Format = f
		default:
			p.add("format", "The selected format is invalid; use one of: json, slack.")
		}
	}
	switch {
	case in.Secret == nil || *in.Secret == "":
		p.add("secret", "The secret field is required.")
	case len(*in.Secret) < MinSecretLen || len(*in.Secret) > MaxSecretLen:
		p.add("secret", fmt.Sprintf("The secret must be between %d and %d characters.", MinSecretLen, MaxSecretLen))
	default:
		w.Secret = *in.Secret
	}
	return w, p
}

// validRules returns the rules without duplicates, or a problem: at least
// one, each a rule name, or "*" alone.
func validRules(in []string) ([]string, string) {
	if len(in) == 0 {
		return nil, `The rules must list at least one rule, or ["*"] for all.`
	}
	var out []string
	for _, r := range in {
		switch {
		case r == AllRules:
			if len(in) > 1 && slices.ContainsFunc(in, func(x string) bool { return x != AllRules }) {
				return nil, `The rules must be rule names or ["*"] alone, not both.`
			}
		case !detect.ValidRule(r):
			names := make([]string, len(detect.Rules))
			for i, x := range detect.Rules {
				names[i] = string(x)
			}
			return nil, fmt.Sprintf("The rule %q is invalid; use any of: %s, or [\"*\"] for all.", r, strings.Join(names, ", "))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, ""
}
