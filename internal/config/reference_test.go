package config_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// envName is how an environment variable reads in the code: a string
// literal of capitals, digits and underscores with at least one underscore.
var envName = regexp.MustCompile(`"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"`)

// notEnv are such literals that are not environment variables: stream
// names (internal/bus) and what only the benchmark programs read.
func notEnv(name string) bool {
	return strings.HasPrefix(name, "AUTH_") && !strings.HasPrefix(name, "AUTHWATCH_")
}

// The README's configuration table is the one reference of every variable:
// each variable the services read is in it, and each row is read by code.
func TestConfigurationTableMatchesTheCode(t *testing.T) {
	root := filepath.Join("..", "..")
	inCode := map[string]string{} // name → a file reading it
	for _, dir := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "bench" || d.Name() == "tools" || d.Name() == "testenv") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range envName.FindAllStringSubmatch(string(src), -1) {
				if !notEnv(m[1]) {
					inCode[m[1]] = path
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## Configuration\n")
	if start < 0 {
		t.Fatal("README has no ## Configuration section")
	}
	section = section[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	inTable := map[string]bool{}
	cell := regexp.MustCompile("`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`")
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.SplitN(line, "|", 3)[1] // the variable column
		for _, m := range cell.FindAllStringSubmatch(first, -1) {
			inTable[m[1]] = true
		}
	}
	var missing, stale []string
	for name, file := range inCode {
		if !inTable[name] {
			missing = append(missing, name+" (read in "+file+")")
		}
	}
	for name := range inTable {
		if _, ok := inCode[name]; !ok {
			stale = append(stale, name)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	if len(missing) > 0 {
		t.Errorf("variables the code reads that README's configuration table lacks:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(stale) > 0 {
		t.Errorf("variables in README's configuration table that no code reads: %s", strings.Join(stale, ", "))
	}
	if len(inCode) < 20 {
		t.Errorf("found only %d variables in the code; the scan is broken", len(inCode))
	}
}
