package store

import (
	"strings"
	"testing"
	"time"
)

func TestPartitionEnd(t *testing.T) {
	tests := []struct {
		part   string
		yearly bool
		want   time.Time
		ok     bool
	}{
		{"202601", false, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), true},
		{"202612", false, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"2026", true, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"202613", false, time.Time{}, false},
		{"tuple()", false, time.Time{}, false},
	}
	for _, tc := range tests {
		got, ok := partitionEnd(tc.part, tc.yearly)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("partitionEnd(%q, %v) = %s, %v; want %s, %v", tc.part, tc.yearly, got, ok, tc.want, tc.ok)
		}
	}
}

// On a cluster, what changes rows in place goes to the local tables on
// every server, and system tables are read on every shard.
func TestClusterNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{inPlace("login_events", ""), "login_events"},
		{inPlace("login_events", "authwatch"), "login_events_local ON CLUSTER 'authwatch'"},
		{everyServer("parts", ""), "system.parts"},
		{everyServer("mutations", "authwatch"), "cluster('authwatch', system.mutations)"},
		{localName("alerts", ""), "alerts"},
		{localName("alerts", "authwatch"), "alerts_local"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	for _, c := range []struct {
		env       map[string]string
		noMigrate bool
		cluster   string
		err       string // part of the error; "" for none
	}{
		{map[string]string{}, false, "", ""},
		{map[string]string{"CLICKHOUSE_MIGRATE": "false"}, true, "", ""},
		{map[string]string{"CLICKHOUSE_MIGRATE": "False"}, true, "", ""},
		{map[string]string{"CLICKHOUSE_MIGRATE": "0"}, true, "", ""},
		{map[string]string{"CLICKHOUSE_MIGRATE": "true"}, false, "", ""},
		{map[string]string{"CLICKHOUSE_MIGRATE": "no"}, false, "", "CLICKHOUSE_MIGRATE"},
		{map[string]string{"CLICKHOUSE_MIGRATE": "false", "CLICKHOUSE_CLUSTER": "authwatch"}, true, "authwatch", ""},
		{map[string]string{"CLICKHOUSE_CLUSTER": "authwatch"}, false, "authwatch", "CLICKHOUSE_MIGRATE=false"},
		{map[string]string{"CLICKHOUSE_MIGRATE": "false", "CLICKHOUSE_CLUSTER": "a'b"}, true, "a'b", "CLICKHOUSE_CLUSTER"},
	} {
		cfg, err := ConfigFromEnv(func(k string) string { return c.env[k] })
		if cfg.NoMigrate != c.noMigrate || cfg.Cluster != c.cluster || (err == nil) != (c.err == "") ||
			(err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%v: NoMigrate %v, Cluster %q, err %v; want %v, %q, an error naming %q", c.env, cfg.NoMigrate, cfg.Cluster, err, c.noMigrate, c.cluster, c.err)
		}
	}
}
