package cluster

import (
	"fmt"
	"testing"
)

func TestSiteShardName(t *testing.T) {
	name := SiteShardName("fra", 3)
	if name != "site/fra/shard/003" {
		t.Fatalf("SiteShardName = %q", name)
	}
	if kind, shard, _ := parseName(name); kind != kindSite || shard != 3 {
		t.Errorf("parseName(%q) = %v %d", name, kind, shard)
	}
	if kind, shard, _ := parseName(ShardName(3)); kind != kindShard || shard != 3 {
		t.Errorf("parseName(shard/003) = %v %d", kind, shard)
	}
}

// Agents claim only their own location's site shards, share them with the
// other agents of that location, and all share the global shards.
func TestSiteShardsStayInTheirLocation(t *testing.T) {
	dsn, admin := testDB(t)
	at := func(id, loc string) Options { o := opts(id); o.Location = loc; return o }
	fra1 := start(t, dsn, at("fra-1", "fra"))
	fra2 := start(t, dsn, at("fra-2", "fra"))
	nyc := start(t, dsn, at("nyc-1", "nyc"))
	none := start(t, dsn, at("anywhere", ""))
	agents := []*agent{fra1, fra2, nyc, none}
	waitFor(t, "site shards shared within each location", func() error {
		hs := heldAtOnce([]*Member{fra1.Member, fra2.Member, nyc.Member, none.Member})
		global := 0
		for i, h := range hs {
			global += len(h.Shards)
			if l := len(h.Shards); l != 16 {
				return fmt.Errorf("%s holds %d global shards, want 16", agents[i].ID(), l)
			}
			for _, tok := range h.Sites {
				loc, _, _ := parseSiteName(tok.Name)
				if loc != agents[i].Location() {
					t.Fatalf("%s (location %q) holds %s", agents[i].ID(), agents[i].Location(), tok.Name)
				}
			}
		}
		if n0, n1 := len(hs[0].Sites), len(hs[1].Sites); n0 != SiteShards/2 || n1 != SiteShards/2 {
			return fmt.Errorf("fra agents hold %d and %d site shards, want %d each", n0, n1, SiteShards/2)
		}
		for s := range hs[0].Sites {
			if _, both := hs[1].Sites[s]; both {
				t.Fatalf("site shard %d of fra held by both fra agents", s)
			}
		}
		if n := len(hs[2].Sites); n != SiteShards {
			return fmt.Errorf("nyc agent holds %d site shards, want %d", n, SiteShards)
		}
		if n := len(hs[3].Sites); n != 0 {
			t.Fatalf("an agent with no location holds %d site shards", n)
		}
		return nil
	})
	if _, ok := nyc.OwnsSite(0); !ok {
		t.Error("nyc does not own its site shard 0")
	}
	if _, ok := none.OwnsSite(0); ok {
		t.Error("an agent with no location owns a site shard")
	}
	table := leaseTable(t, admin)
	for i := range SiteShards {
		if r := table[SiteShardName("nyc", i)]; r.owner != "nyc-1" || !r.live {
			t.Errorf("%s: %+v", SiteShardName("nyc", i), r)
		}
	}
	// pulse cluster lists them.
	infos, err := Agents(t.Context(), admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.ID == "nyc-1" && len(in.SiteShards) != SiteShards {
			t.Errorf("Agents: nyc-1 site shards %v", in.SiteShards)
		}
	}

	// One fra agent stops: the other takes all of fra's site shards, and
	// nyc's stay where they are.
	fra2.kill()
	waitFor(t, "the other fra agent takes over", func() error {
		if n := len(fra1.Held().Sites); n != SiteShards {
			return fmt.Errorf("fra-1 holds %d site shards", n)
		}
		return nil
	})
	if n := len(nyc.Held().Sites); n != SiteShards {
		t.Errorf("nyc-1 holds %d site shards after fra-2 left", n)
	}
}
