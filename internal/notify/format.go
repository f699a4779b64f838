package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/authwatch/authwatch/internal/detect"
)

// Body is the POST body of an alert for a webhook of format f: the alert
// JSON as published (json), or a Slack message (slack).
func Body(f Format, alertJSON []byte) ([]byte, error) {
	switch f {
	case FormatJSON:
		return alertJSON, nil
	case FormatSlack:
		var a detect.Alert
		if err := json.Unmarshal(alertJSON, &a); err != nil {
			return nil, fmt.Errorf("alert: %w", err)
		}
		return json.Marshal(struct {
			Text string `json:"text"`
		}{SlackText(a)})
	}
	return nil, fmt.Errorf("unknown webhook format %q", f)
}

var severityMark = map[detect.Severity]string{detect.Low: ":large_blue_circle:", detect.Medium: ":large_orange_circle:", detect.High: ":red_circle:"}

// SlackText is the alert as a Slack message a person reads: rule and
// severity first, then who, from where, when, and the reasons. Values from
// events are escaped, so a user id cannot ping a channel or forge a link.
func SlackText(a detect.Alert) string {
	var b strings.Builder
	mark := severityMark[a.Severity]
	if mark == "" {
		mark = ":warning:"
	}
	fmt.Fprintf(&b, "%s *authwatch alert: %s* (severity %s)\n", mark, slackEscape(string(a.Rule)), slackEscape(string(a.Severity)))
	user := "unknown account"
	if a.UserID != nil {
		user = *a.UserID
	}
	country := "unknown"
	if a.Country != nil {
		country = *a.Country
	}
	fmt.Fprintf(&b, "*User:* %s\n*IP:* %s\n*Country:* %s\n", slackEscape(user), slackEscape(a.IPAddress), slackEscape(country))
	fmt.Fprintf(&b, "*Tenant:* %s\n*Occurred:* %s\n", slackEscape(a.TenantID), a.OccurredAt.UTC().Format(time.RFC3339))
	if len(a.Reasons) > 0 {
		b.WriteString("*Reasons:*\n")
		for _, r := range a.Reasons {
			b.WriteString("• " + slackEscape(r) + "\n")
		}
	}
	fmt.Fprintf(&b, "Alert %s, event %s", slackEscape(a.ID), slackEscape(a.EventID))
	return b.String()
}

// slackEscape escapes what Slack's mrkdwn treats as control characters.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
