package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/invalid-*.err golden files")

// testEnv is the environment every testdata file is parsed with.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{
		"PULSE_TOKEN":           "tok-listen-5b1e",
		"API_TOKEN":             "tok-api-77c2",
		"PAGERDUTY_ROUTING_KEY": "R0UTINGKEY-9f3a",
		"HOOK_TOKEN":            "tok-hook-2d4f",
		"EMPTY":                 "",
	}[name]
	return v, ok
}

// TestInvalidConfigs compares the problems of every testdata/invalid-*.toml
// with its .err golden file, byte for byte.
func TestInvalidConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid-*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid-*.toml files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".toml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := Parse(file, data, testEnv)
			if err == nil {
				t.Fatalf("Parse accepted %s: %+v", file, cfg)
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse error is %T, want *Errors: %v", err, err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".toml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("problems differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if !strings.HasPrefix(line, file+":") {
					t.Errorf("problem does not start with %q: %s", file+":", line)
				}
			}
		})
	}
}
