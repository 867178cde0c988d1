package config

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Built-in defaults (README.md, "Configuration", and pulse.example.toml).
// Every one can be changed in the file.
const (
	DefaultDatabase        = "pulse.db"
	DefaultTimezone        = "UTC"
	DefaultRetention       = 30 * 24 * time.Hour
	DefaultMaxDBSize       = 2_000_000_000
	DefaultMaxConcurrency  = 256
	DefaultStatusPageTitle = "pulse status"
	DefaultFlapChanges     = 5
	DefaultFlapWindow      = time.Hour
	DefaultInterval        = time.Minute
	DefaultTimeout         = 10 * time.Second
	DefaultSeverity        = "P2"
	DefaultFailAfter       = 2
	DefaultRecoverAfter    = 2
	DefaultMaxBody         = 1 << 20
	DefaultWarnDays        = 14
	DefaultCritDays        = 7
	DefaultDailyAt         = "09:00"
	DefaultNotifierTimeout = 10 * time.Second
	DefaultSMTPPort        = 587
)

// defaultEscalation is the severity table of README.md, "Incidents and
// notifications", used for each
// key of a [escalation.Pn] block the file leaves out.
func defaultEscalation(sev string) Escalation {
	switch sev {
	case "P1":
		return Escalation{Within: 0, Repeat: Duration(30 * time.Minute)}
	case "P2":
		return Escalation{Within: Duration(15 * time.Minute)}
	case "P3":
		return Escalation{Within: Duration(time.Hour)}
	}
	return Escalation{Digest: true}
}

// resolvePaths makes the file paths of the config relative to its folder.
func (l *loader) resolvePaths(cfg *Config) {
	if db := cfg.Agent.Database; db != "" && db != ":memory:" && !strings.HasPrefix(db, "file:") {
		cfg.Agent.Database = l.abs(db)
	}
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		c.CAFile = l.abs(c.CAFile)
		if c.KindFields == nil {
			continue
		}
		if len(c.Command) > 0 && strings.Contains(c.Command[0], "/") {
			c.Command[0] = l.abs(c.Command[0])
		}
		if c.Driver == "sqlite" && c.DSN != "" {
			c.DSN = Secret(l.sqliteDSN(c.DSN.Reveal()))
		}
	}
}

// sqliteDSN resolves a relative database path in a plain path or a file: URI.
func (l *loader) sqliteDSN(dsn string) string {
	if dsn == ":memory:" || strings.HasPrefix(dsn, "file::memory:") {
		return dsn
	}
	prefix := ""
	rest := dsn
	if r, ok := strings.CutPrefix(dsn, "file:"); ok {
		prefix, rest = "file:", r
	}
	p, q, hasQ := strings.Cut(rest, "?")
	if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "//") {
		return dsn
	}
	out := prefix + l.abs(p)
	if hasQ {
		out += "?" + q
	}
	return out
}

// fixDefaultsTable checks [defaults] and fills what it leaves out, so that a
// bad default is reported once, not once per check that inherits it.
func (l *loader) fixDefaultsTable(cfg *Config) {
	d := &cfg.Defaults
	dp := []string{"defaults"}
	has := func(k string) bool { return l.has(dp, k) }
	if !has("interval") {
		d.Interval = Duration(DefaultInterval)
	} else if p := intervalProblem(d.Interval.D()); p != "" {
		l.at(append(dp, "interval"), "%s", p)
		d.Interval = Duration(DefaultInterval)
	}
	if !has("timeout") {
		d.Timeout = Duration(DefaultTimeout)
	} else if p := timeoutProblem(d.Timeout.D()); p != "" {
		l.at(append(dp, "timeout"), "%s", p)
		d.Timeout = Duration(DefaultTimeout)
	}
	if !has("severity") {
		d.Severity = DefaultSeverity
	} else if !ValidSeverity(d.Severity) {
		l.at(append(dp, "severity"), "unknown severity %q (use P1, P2, P3 or P4)", d.Severity)
		d.Severity = DefaultSeverity
	}
	if !has("fail_after") {
		d.FailAfter = DefaultFailAfter
	} else if d.FailAfter < 1 {
		l.at(append(dp, "fail_after"), "must be at least 1")
		d.FailAfter = DefaultFailAfter
	}
	if !has("recover_after") {
		d.RecoverAfter = DefaultRecoverAfter
	} else if d.RecoverAfter < 1 {
		l.at(append(dp, "recover_after"), "must be at least 1")
		d.RecoverAfter = DefaultRecoverAfter
	}
}

// applyDefaults fills every key the file leaves out. Presence, not the zero
// value, decides: "fail_after = 0" is an error, not a request for the default.
func (l *loader) applyDefaults(cfg *Config) {
	a := &cfg.Agent
	ap := []string{"agent"}
	if !l.has(ap, "name") {
		if h, err := os.Hostname(); err == nil && h != "" {
			a.Name = h
		} else {
			a.Name = "pulse"
		}
	}
	if !l.has(ap, "database") {
		a.Database = l.abs(DefaultDatabase)
	}
	if !l.has(ap, "timezone") {
		a.Timezone = DefaultTimezone
	}
	a.Location = time.UTC
	if loc, err := loadLocation(a.Timezone); err != nil {
		l.at(append(ap, "timezone"), "%v", err)
	} else {
		a.Location = loc
	}
	if !l.has(ap, "retention") {
		a.Retention = Duration(DefaultRetention)
	}
	if !l.has(ap, "max_db_size") {
		a.MaxDBSize = DefaultMaxDBSize
	}
	if !l.has(ap, "max_concurrency") {
		a.MaxConcurrency = DefaultMaxConcurrency
	}
	if !l.has(ap, "status_page_title") {
		a.StatusPageTitle = DefaultStatusPageTitle
	}
	if !l.has(ap, "flap_changes") {
		a.FlapChanges = DefaultFlapChanges
	}
	if !l.has(ap, "flap_window") {
		a.FlapWindow = Duration(DefaultFlapWindow)
	}

	t := &cfg.Targets
	tp := []string{"targets"}
	if !l.has(tp, "availability") {
		t.Availability = 99.9
	}
	if !l.has(tp, "error_rate") {
		t.ErrorRate = 0.1
	}
	if !l.has(tp, "http_latency") {
		t.HTTPLatency = Duration(500 * time.Millisecond)
	}
	if !l.has(tp, "page_load") {
		t.PageLoad = Duration(2 * time.Second)
	}
	if !l.has(tp, "sql_latency") {
		t.SQLLatency = Duration(100 * time.Millisecond)
	}

	d := cfg.Defaults
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		cp := []string{"check", strconv.Itoa(i)}
		has := func(k string) bool { return l.has(cp, k) }
		if !has("interval") && !has("schedule") {
			c.Interval = d.Interval
		}
		if !has("timeout") {
			c.Timeout = d.Timeout
		}
		if !has("severity") {
			c.Severity = d.Severity
		}
		if !has("fail_after") {
			c.FailAfter = d.FailAfter
		}
		if !has("recover_after") {
			c.RecoverAfter = d.RecoverAfter
		}
		defaultLocations(c, has("quorum"))
		if kind, ok := checkKinds[c.Type]; ok && kind.defaults != nil {
			kind.defaults(scope{l: l, cfg: cfg, path: cp}, c)
		}
		c.Line = l.line(cp)
		c.Location = a.Location
		if c.Timezone != "" {
			if loc, err := loadLocation(c.Timezone); err != nil {
				l.at(append(cp, "timezone"), "%v", err)
			} else {
				c.Location = loc
			}
		}
	}

	var all, digestable []string
	for i := range cfg.Notifiers {
		n := &cfg.Notifiers[i]
		np := []string{"notifier", strconv.Itoa(i)}
		n.Line = l.line(np)
		if !l.has(np, "timeout") {
			n.Timeout = Duration(DefaultNotifierTimeout)
		}
		kind, ok := notifierKinds[n.Type]
		if ok && kind.defaults != nil {
			kind.defaults(scope{l: l, cfg: cfg, path: np}, n)
		}
		if n.Name != "" {
			all = append(all, n.Name)
			if kind.digest {
				digestable = append(digestable, n.Name)
			}
		}
	}

	if cfg.Escalation == nil {
		cfg.Escalation = make(map[string]Escalation, len(Severities))
	}
	for _, sev := range Severities {
		e := cfg.Escalation[sev]
		ep := []string{"escalation", sev}
		def := defaultEscalation(sev)
		if !l.has(ep, "within") {
			e.Within = def.Within
		}
		if !l.has(ep, "repeat") {
			e.Repeat = def.Repeat
		}
		if !l.has(ep, "digest") {
			e.Digest = def.Digest
		}
		// An absent notify means every channel; "notify = []" mutes the severity.
		if !l.has(ep, "notify") && !e.Digest {
			e.Notify = slices.Clone(all)
		}
		cfg.Escalation[sev] = e
	}

	rp := []string{"report"}
	if !l.has(rp, "daily_at") {
		cfg.Report.DailyAt = DefaultDailyAt
	}
	if !l.has(rp, "notify") {
		cfg.Report.Notify = digestable
	}
	l.subscriptionDefaults(cfg)
	for i := range cfg.Maintenance {
		m := &cfg.Maintenance[i]
		mp := []string{"maintenance", strconv.Itoa(i)}
		m.Line = l.line(mp)
		if m.Announce && !l.has(mp, "announce_before") {
			m.AnnounceBefore = Duration(DefaultAnnounceBefore)
		}
	}
}
