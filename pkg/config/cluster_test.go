package config

import (
	"strings"
	"testing"
	"time"
)

func TestClusterCheckImplicit(t *testing.T) {
	const store = "[agent]\nstore = \"postgres://pulse@db1/pulse\"\nlocation = \"fra\"\n"
	cfg, err := Parse("pulse.toml", []byte(store), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Agent.Site != "fra" || cfg.Agent.StoreTarget() != "postgres://pulse@db1/pulse" {
		t.Errorf("agent = %+v", cfg.Agent)
	}
	if len(cfg.Checks) != 1 {
		t.Fatalf("checks = %+v, want the implicit cluster check", cfg.Checks)
	}
	c := cfg.Checks[0]
	if c.Name != ClusterCheckName || c.Type != "cluster" || c.Severity != "P2" || c.Interval.D() != 5*time.Second ||
		c.FailAfter != 1 || c.RecoverAfter != 1 || c.Location == nil {
		t.Errorf("implicit check = %+v", c)
	}

	// A check of that name already: the implicit one is pulse-cluster.
	cfg, err = Parse("pulse.toml", []byte(store+"[[check]]\nname = \"cluster\"\ntype = \"tcp\"\naddress = \"db:5432\"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Checks) != 2 || cfg.Checks[1].Name != "pulse-cluster" {
		t.Errorf("checks = %v", cfg.Checks)
	}

	// Declared: as written, none added.
	cfg, err = Parse("pulse.toml", []byte(store+"[[check]]\nname = \"agents\"\ntype = \"cluster\"\nseverity = \"P1\"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Checks) != 1 || cfg.Checks[0].Severity != "P1" {
		t.Errorf("checks = %+v", cfg.Checks)
	}

	// SQLite: none, and declaring one is an error.
	cfg, err = Parse("pulse.toml", []byte("[agent]\nname = \"x\"\n"), nil)
	if err != nil || len(cfg.Checks) != 0 {
		t.Errorf("SQLite config: %v, %v", cfg, err)
	}
	_, err = Parse("pulse.toml", []byte("[[check]]\nname = \"agents\"\ntype = \"cluster\"\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "pulse.toml:1: check \"agents\": type \"cluster\" watches the agents sharing [agent].store") {
		t.Errorf("cluster check without store: %v", err)
	}
}

func TestStoreKeys(t *testing.T) {
	for _, tc := range []struct{ toml, want string }{
		{"[agent]\nstore = \"mysql://db/pulse\"\n", "pulse.toml:2: agent: store: not a postgres:// URL"},
		{"[agent]\nstore = \"postgres:///pulse\"\n", "postgres:// URL without a host"},
		{"[agent]\nstore = \"postgres://db\"\n", "without a database name"},
		{"[agent]\nstore = \"postgres://db/p\"\ndatabase = \"x.db\"\n", "set store or database, not both"},
		{"[agent]\nlocation = \"new york\"\n", "agent: location: \"new york\": want a short name"},
	} {
		_, err := Parse("pulse.toml", []byte(tc.toml), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.toml, err, tc.want)
		}
	}
	_, err := Parse("pulse.toml", []byte("[agent]\nstore = \"postgres://pulse:s3cret@db/p?sslmode=x\"\ndatabase = \"x.db\"\n"), nil)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the store URL's password in an error: %v", err)
	}
}
