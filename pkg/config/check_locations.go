package config

import (
	"slices"
	"strconv"
	"strings"
)

// Multi-location checks (README, "Several agents"): a check with
// locations = ["fra", "nyc"] runs once from an agent of each location, as a
// copy named NAME@LOCATION (CopyName); the holder of the check's shard
// takes the verdict from the copies' latest results: crit when at least
// quorum fresh locations are crit. Check names cannot hold '@'
// (namePattern), so a copy's name never meets a configured check's.

// CopyName is the name the copy of check run from location goes by: its
// results, its state and its history are kept under it ("home@fra").
func CopyName(check, location string) string { return check + "@" + location }

// SplitCopyName is the inverse of CopyName: ok is false for a name with no '@'.
func SplitCopyName(name string) (check, location string, ok bool) {
	return strings.Cut(name, "@")
}

// HasLocations reports whether c runs from several locations.
func (c *Check) HasLocations() bool { return len(c.Locations) > 0 }

// QuorumOf is c's quorum: the configured one, else a majority of its
// locations.
func (c *Check) QuorumOf() int {
	if c.Quorum > 0 {
		return c.Quorum
	}
	return len(c.Locations)/2 + 1
}

// defaultLocations fills quorum: a majority of the locations.
func defaultLocations(c *Check, hasQuorum bool) {
	if len(c.Locations) > 0 && !hasQuorum {
		c.Quorum = len(c.Locations)/2 + 1
	}
}

// validateLocations checks the keys locations and quorum of the check at cp.
func (l *loader) validateLocations(cfg *Config, cp []string, c *Check) {
	key := func(k string) []string { return append(slices.Clip(cp), k) }
	hasLoc, hasQuorum := l.has(cp, "locations"), l.has(cp, "quorum")
	if !hasLoc && !hasQuorum {
		return
	}
	if cfg.Agent.Store == "" {
		k := "locations"
		if !hasLoc {
			k = "quorum"
		}
		l.at(key(k), "needs [agent].store: the locations' agents share one PostgreSQL database")
		return
	}
	if hasLoc && (c.Type == "heartbeat" || c.Type == "cluster") {
		l.at(key("locations"), "a %s check cannot run from locations: it reads the shared database, the same from every location", c.Type)
		return
	}
	if !hasLoc {
		l.at(key("quorum"), "needs locations, the [agent].location values the check runs from")
		return
	}
	if len(c.Locations) == 0 {
		l.at(key("locations"), "must not be empty: leave it out to run the check once, anywhere")
		return
	}
	seen := map[string]int{}
	for j, loc := range c.Locations {
		kp := append(key("locations"), strconv.Itoa(j))
		switch {
		case loc == "" || !validSite(loc):
			l.at(kp, "%q: want a short name of letters, digits, '-', '_' or '.' (at most 32), as in [agent].location", loc)
		default:
			if k, dup := seen[loc]; dup {
				l.at(kp, "duplicate location %q (also item %d)", loc, k+1)
			} else {
				seen[loc] = j
			}
		}
	}
	if hasQuorum && (c.Quorum < 1 || c.Quorum > len(c.Locations)) {
		l.at(key("quorum"), "must be between 1 and the number of locations (%d)", len(c.Locations))
	}
}
