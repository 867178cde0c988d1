package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, and every
// problem must be one line naming the file.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.toml")
	seeds = append(seeds, "../../pulse.example.toml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("[[check]]\nschedule = \"CRON_TZ=UTC\"\n"))
	f.Add([]byte("a.b.c = 1\n[a]\n"))
	f.Add([]byte("[[check]]\n[[check.expect.status]]\n"))
	const file = "testdata/fuzz.toml"
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(file, data, testEnv)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without error")
			}
			return
		}
		var errs *Errors
		if !errors.As(err, &errs) {
			t.Fatalf("error is %T, want *Errors: %v", err, err)
		}
		msg := err.Error()
		if strings.Contains(msg, "internal error") {
			t.Fatalf("Parse recovered from a panic: %s", msg)
		}
		lines := strings.Split(msg, "\n")
		if len(lines) != len(*errs) {
			t.Fatalf("%d problems printed on %d lines:\n%s", len(*errs), len(lines), msg)
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, file+":") {
				t.Fatalf("problem does not start with %q: %q", file+":", l)
			}
		}
	})
}
