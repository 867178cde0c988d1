package cluster

import (
	"fmt"
	"strconv"
	"strings"
)

// Site shards: the copies of a check with locations (NAME@LOCATION) run on
// the agents of that location only. Each location has SiteShards leases of
// its own, "site/<location>/shard/NNN", which only the live majority agents
// of that location ([agent].location, Options.Location) claim, shared among
// them as the global shards are among all. An agent with no location claims
// none. A copy's site shard is ShardOf(copy, SiteShards).

// SiteShards is the number of check shards of each location.
const SiteShards = 16

const sitePrefix = "site/"

// SiteShardName is the lease name of shard i of location: "site/fra/shard/003".
func SiteShardName(location string, i int) string {
	return fmt.Sprintf("%s%s/%s%03d", sitePrefix, location, shardPrefix, i)
}

// parseSiteName parses a site shard's lease name.
func parseSiteName(name string) (location string, shard int, ok bool) {
	rest, found := strings.CutPrefix(name, sitePrefix)
	if !found {
		return "", 0, false
	}
	i := strings.LastIndex(rest, "/"+shardPrefix)
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(rest[i+1+len(shardPrefix):])
	if err != nil {
		return "", 0, false
	}
	return rest[:i], n, true
}

// siteNames are the site shard lease names of location, by index.
func siteNames(location string) []string {
	if location == "" {
		return nil
	}
	out := make([]string, SiteShards)
	for i := range out {
		out[i] = SiteShardName(location, i)
	}
	return out
}

// OwnsSite returns the token of the member's location's site shard when it
// may run the copies of that shard now.
func (m *Member) OwnsSite(shard int) (Token, bool) {
	if m.o.Location == "" {
		return Token{}, false
	}
	return m.owns(SiteShardName(m.o.Location, shard))
}

// Location is the member's location ([agent].location).
func (m *Member) Location() string { return m.o.Location }

// sitePeers are the live agents of the member's location that share the
// majority config hash, the member included: those its site shards are
// shared among.
func (m *Member) sitePeers(live []agentRow, major string) []string {
	var peers []string
	for _, a := range live {
		if a.hash == major && a.loc == m.o.Location && a.id != m.o.ID {
			peers = append(peers, a.id)
		}
	}
	return append(peers, m.o.ID)
}
