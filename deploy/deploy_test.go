// Package deploy holds what operators run authwatch with on clusters
// (README, Running on clusters); its test keeps the dashboards true to the
// code and the schema.
package deploy

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/authwatch/authwatch/internal/testenv"
)

type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr   string `json:"expr"`
			RawSQL string `json:"rawSql"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T, name string) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("grafana", name))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", name, err)
	}
	if len(d.Panels) == 0 {
		t.Fatalf("%s has no panels", name)
	}
	return d
}

// Every metric the Prometheus dashboard charts is one the services export.
func TestPrometheusDashboardChartsExportedMetrics(t *testing.T) {
	exported := map[string]bool{}
	metric := regexp.MustCompile(`"(authwatch_[a-z_]+)"`)
	for _, dir := range []string{"../cmd", "../internal"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			for _, m := range metric.FindAllStringSubmatch(string(src), -1) {
				exported[m[1]] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	used := regexp.MustCompile(`authwatch_[a-z_]+`)
	for _, p := range readDashboard(t, "authwatch-prometheus.json").Panels {
		for _, tg := range p.Targets {
			for _, name := range used.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
				if !exported[base] {
					t.Errorf("panel %q charts %s, which no service exports", p.Title, name)
				}
			}
		}
	}
}

// Every query of the ClickHouse dashboard runs on our schema (on the 18.16
// server the tests use; Grafana's time filter macro stands for a day).
func TestClickHouseDashboardQueriesRun(t *testing.T) {
	st, cfg := testenv.OpenStore(t)
	timeFilter := regexp.MustCompile(`\$__timeFilter\((\w+)\)`)
	for _, p := range readDashboard(t, "authwatch-clickhouse.json").Panels {
		for _, tg := range p.Targets {
			q := timeFilter.ReplaceAllString(tg.RawSQL, "$1 >= now() - 86400")
			q = strings.ReplaceAll(q, "authwatch.", cfg.Database+".")
			rows, err := st.Conn().Query(context.Background(), q)
			if err != nil {
				t.Errorf("panel %q: %v\n%s", p.Title, err, q)
				continue
			}
			rows.Close()
		}
	}
}
