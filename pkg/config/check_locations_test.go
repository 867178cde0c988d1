package config

import (
	"slices"
	"testing"
)

func TestCheckLocations(t *testing.T) {
	const head = "[agent]\nstore = \"postgres://pulse@db1,db2/pulse?target_session_attrs=read-write\"\nlocation = \"fra\"\n"
	for _, tc := range []struct {
		check  string
		locs   []string
		quorum int
	}{
		{`locations = ["fra", "nyc", "sgp"]`, []string{"fra", "nyc", "sgp"}, 2}, // a majority
		{`locations = ["fra", "nyc"]`, []string{"fra", "nyc"}, 2},
		{`locations = ["fra"]`, []string{"fra"}, 1},
		{"locations = [\"fra\", \"nyc\", \"sgp\"]\nquorum = 1", []string{"fra", "nyc", "sgp"}, 1},
		{"", nil, 0},
	} {
		src := head + "[[check]]\nname = \"home\"\ntype = \"http\"\nurl = \"https://example.com/\"\n" + tc.check + "\n"
		cfg, err := Parse("pulse.toml", []byte(src), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.check, err)
		}
		c := cfg.Checks[0]
		if !slices.Equal(c.Locations, tc.locs) || c.Quorum != tc.quorum || c.HasLocations() != (tc.locs != nil) {
			t.Errorf("%s: locations %v quorum %d", tc.check, c.Locations, c.Quorum)
		}
	}
	if got := CopyName("home", "fra"); got != "home@fra" {
		t.Errorf("CopyName = %q", got)
	}
	if c, l, ok := SplitCopyName("home@fra"); c != "home" || l != "fra" || !ok {
		t.Errorf("SplitCopyName = %q %q %v", c, l, ok)
	}
}
