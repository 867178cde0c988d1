package config

import (
	"os"
	"strings"
	"testing"
)

// TestDSNProblemsHideThePassword: the drivers' parsers quote the DSN (pgx
// masks the password only as best it can, a URL parse error not at all);
// no problem of invalid-sql-dsn.toml may show any part of "hunter2".
func TestDSNProblemsHideThePassword(t *testing.T) {
	file := "testdata/invalid-sql-dsn.toml"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(file, data, testEnv)
	if err == nil {
		t.Fatal("accepted")
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 7 {
		t.Errorf("%d problems, want 7 (one per bad DSN):\n%v", n, err)
	}
	for _, s := range []string{"hunter2", "hun%zz", "zzter2"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("problems show %q:\n%v", s, err)
		}
	}
}
