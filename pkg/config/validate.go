package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/acklink"
	"github.com/pulse-monitor/pulse/pkg/cron"
	"github.com/pulse-monitor/pulse/pkg/redact"
)

var namePattern = regexp.MustCompile(`^[a-z0-9._-]+$`)

// ValidSeverity reports whether s is one of Severities, as written ("P1", not "p1").
func ValidSeverity(s string) bool { return slices.Contains(Severities, s) }

// validate reports every remaining problem of a decoded, defaulted config.
func (l *loader) validate(cfg *Config) {
	l.validateAgent(cfg)
	notifiers := l.validateNotifiers(cfg)
	l.validateChecks(cfg)
	l.validateEscalation(cfg, notifiers)
	l.validateReport(cfg, notifiers)
	l.validateMaintenance(cfg)
	l.validateSubscriptions(cfg)
}

func (l *loader) validateAgent(cfg *Config) {
	a := &cfg.Agent
	key := func(k string) []string { return []string{"agent", k} }
	if a.Name == "" {
		l.at(key("name"), "must not be empty")
	}
	if a.Database == "" {
		l.at(key("database"), "must not be empty")
	}
	if a.Site != "" && !validSite(a.Site) {
		l.at(key("location"), "%q: want a short name of letters, digits, '-', '_' or '.' (at most 32)", a.Site)
	}
	if a.Store != "" {
		if err := checkStoreURL(a.Store.Reveal()); err != nil {
			l.at(key("store"), "%v", err)
		} else if l.has([]string{"agent"}, "database") {
			l.at(key("store"), "set store or database, not both: with store the history is in PostgreSQL")
		}
	}
	if a.Listen != "" {
		if err := checkHostPort(a.Listen, true); err != nil {
			l.at(key("listen"), "%v", err)
		}
	}
	if a.Retention <= 0 {
		l.at(key("retention"), "must be greater than 0")
	}
	if a.MaxDBSize <= 0 {
		l.at(key("max_db_size"), "must be greater than 0")
	}
	if a.MaxConcurrency < 1 {
		l.at(key("max_concurrency"), "must be at least 1")
	}
	if a.FlapChanges < 2 {
		l.at(key("flap_changes"), "must be at least 2")
	}
	if a.FlapWindow <= 0 {
		l.at(key("flap_window"), "must be greater than 0")
	}
	if a.HeartbeatURL != "" {
		if err := checkURL(a.HeartbeatURL.Reveal(), true); err != nil {
			l.at(key("heartbeat_url"), "%v", err)
		}
	}
	if a.PublicURL != "" {
		if err := checkPublicURL(a.PublicURL); err != nil {
			l.at(key("public_url"), "%v", err)
		}
	}
	if a.Secret != "" {
		k := "secret"
		if _, ok := l.table("agent")["secret_file"]; ok {
			k = "secret_file"
		}
		if b, err := ackKey(a.Secret.Reveal()); err != nil {
			l.at(key(k), "%v", err)
		} else {
			a.AckKey = Secret(b)
		}
	}
	t := &cfg.Targets
	if t.Availability <= 0 || t.Availability > 100 {
		l.at([]string{"targets", "availability"}, "must be a percentage above 0 and at most 100")
	}
	if t.ErrorRate < 0 || t.ErrorRate > 100 {
		l.at([]string{"targets", "error_rate"}, "must be a percentage from 0 to 100")
	}
	for k, d := range map[string]Duration{"http_latency": t.HTTPLatency, "page_load": t.PageLoad, "sql_latency": t.SQLLatency} {
		if d <= 0 {
			l.at([]string{"targets", k}, "must be greater than 0")
		}
	}
}

// validateNotifiers returns the set of valid notifier names.
func (l *loader) validateNotifiers(cfg *Config) map[string]bool {
	names := map[string]bool{}
	first := map[string]int{}
	for i := range cfg.Notifiers {
		n := &cfg.Notifiers[i]
		np := []string{"notifier", strconv.Itoa(i)}
		key := func(k string) []string { return append(slices.Clip(np), k) }
		required := func(k string, set bool) {
			if !set && !l.seen[pathKey(key(k))] && !l.seen[pathKey(key(k+"_file"))] {
				l.in(np, "missing required key %q", k)
			}
		}
		switch {
		case n.Name == "":
			required("name", false)
		case !namePattern.MatchString(n.Name):
			l.at(key("name"), "invalid name %q: use lowercase letters, digits, '.', '_' and '-'", n.Name)
		default:
			if line, dup := first[n.Name]; dup {
				l.at(key("name"), "duplicate notifier name (first defined on line %d)", line)
			} else {
				first[n.Name] = n.Line
				names[n.Name] = true
			}
		}
		if p := timeoutProblem(n.Timeout.D()); p != "" {
			l.at(key("timeout"), "%s", p)
		}
		kind, known := notifierKinds[n.Type]
		switch {
		case known:
			kind.validate(scope{l: l, cfg: cfg, path: np}, n)
		case n.Type == "":
			if !l.seen[pathKey(key("type"))] {
				l.in(np, "missing required key \"type\" (one of %s)", strings.Join(NotifierKinds(), ", "))
			}
		default:
			l.at(key("type"), "unknown notifier type %q (one of %s)%s", n.Type, strings.Join(NotifierKinds(), ", "), suggest(n.Type, NotifierKinds()))
		}
	}
	return names
}

func (l *loader) validateChecks(cfg *Config) {
	first := map[string]int{}
	index := map[string]int{}
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		cp := []string{"check", strconv.Itoa(i)}
		key := func(k string) []string { return append(slices.Clip(cp), strings.Split(k, ".")...) }
		has := func(k string) bool { return l.has(cp, k) }
		required := func(k string, set bool) {
			if !set && !l.seen[pathKey(key(k))] && !l.seen[pathKey(key(k+"_file"))] {
				l.in(cp, "missing required key %q", k)
			}
		}

		switch {
		case c.Name == "":
			required("name", false)
		case !namePattern.MatchString(c.Name):
			l.at(key("name"), "invalid name %q: use lowercase letters, digits, '.', '_' and '-'", c.Name)
		default:
			if line, dup := first[c.Name]; dup {
				l.at(key("name"), "duplicate check name (first defined on line %d)", line)
			} else {
				first[c.Name] = c.Line
				index[c.Name] = i
			}
		}

		if has("interval") && has("schedule") {
			l.in(key("schedule"), "set interval or schedule, not both")
		}
		if p := intervalProblem(c.Interval.D()); !has("schedule") && p != "" {
			l.at(key("interval"), "%s", p)
		}
		if has("schedule") {
			l.checkSchedule(key("schedule"), c.Schedule, c.Location)
		}
		if p := timeoutProblem(c.Timeout.D()); p != "" {
			l.at(key("timeout"), "%s", p)
		}
		if !ValidSeverity(c.Severity) {
			l.at(key("severity"), "unknown severity %q (use P1, P2, P3 or P4)", c.Severity)
		}
		if has("warn_severity") && !ValidSeverity(c.WarnSeverity) {
			l.at(key("warn_severity"), "unknown severity %q (use P1, P2, P3 or P4)", c.WarnSeverity)
		}
		if c.FailAfter < 1 {
			l.at(key("fail_after"), "must be at least 1")
		}
		if c.RecoverAfter < 1 {
			l.at(key("recover_after"), "must be at least 1")
		}
		if c.Runbook != "" {
			if err := checkURL(c.Runbook, false); err != nil {
				l.at(key("runbook"), "%v", err)
			}
		}
		for j, t := range c.Tags {
			if strings.TrimSpace(t) == "" {
				l.at(append(key("tags"), strconv.Itoa(j)), "empty tag")
			}
		}
		l.validateLocations(cfg, cp, c)
		exp := c.Expected()
		if exp.Latency < 0 || exp.CertExpiry < 0 {
			l.at(key("expect"), "durations must not be negative")
		}

		kind, known := checkKinds[c.Type]
		switch {
		case known:
			kind.validate(scope{l: l, cfg: cfg, path: cp}, c)
		case c.Type == "":
			if !l.seen[pathKey(key("type"))] {
				l.in(cp, "missing required key \"type\" (one of %s)", strings.Join(Kinds(), ", "))
			}
		default:
			l.at(key("type"), "unknown type %q (one of %s)%s", c.Type, strings.Join(Kinds(), ", "), suggest(c.Type, Kinds()))
		}
	}

	// depends_on: existing checks, not itself, no cycles.
	deps := make([][]int, len(cfg.Checks))
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		for j, d := range c.DependsOn {
			kp := []string{"check", strconv.Itoa(i), "depends_on", strconv.Itoa(j)}
			switch di, ok := index[d]; {
			case d == c.Name:
				l.at(kp, "a check cannot depend on itself")
			case !ok:
				l.at(kp, "unknown check %q%s", d, suggest(d, slices.DeleteFunc(sortedKeys(index), func(n string) bool { return n == c.Name })))
			default:
				deps[i] = append(deps[i], di)
			}
		}
	}
	l.checkCycles(cfg, deps)
}

// checkCycles reports each depends_on cycle once, at its first check.
func (l *loader) checkCycles(cfg *Config, deps [][]int) {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(deps))
	var stack []int
	var visit func(i int)
	visit = func(i int) {
		color[i] = grey
		stack = append(stack, i)
		for _, j := range deps[i] {
			switch color[j] {
			case white:
				visit(j)
			case grey:
				start := slices.Index(stack, j)
				names := make([]string, 0, len(stack)-start+1)
				for _, k := range stack[start:] {
					names = append(names, cfg.Checks[k].Name)
				}
				names = append(names, cfg.Checks[j].Name)
				l.in([]string{"check", strconv.Itoa(j), "depends_on"}, "depends_on: dependency cycle %s", strings.Join(names, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
	}
	for i := range deps {
		if color[i] == white {
			visit(i)
		}
	}
}

func (l *loader) validateEscalation(cfg *Config, notifiers map[string]bool) {
	known := sortedKeys(notifiers)
	checkNotify := func(kp []string, names []string) {
		for j, n := range names {
			if !notifiers[n] {
				l.at(append(slices.Clip(kp), strconv.Itoa(j)), "unknown notifier %q%s", n, suggest(n, known))
			}
		}
	}
	for _, sev := range sortedKeys(cfg.Escalation) {
		e := cfg.Escalation[sev]
		ep := []string{"escalation", sev}
		if !ValidSeverity(sev) {
			l.in(ep, "unknown severity %q (use P1, P2, P3 or P4)%s", sev, suggest(sev, Severities))
			continue
		}
		checkNotify(append(slices.Clip(ep), "notify"), e.Notify)
		for j, st := range e.Escalate {
			sp := append(slices.Clip(ep), "escalate", strconv.Itoa(j))
			if st.After <= 0 {
				l.at(append(slices.Clip(sp), "after"), "must be greater than 0")
			}
			if len(st.Notify) == 0 && !l.seen[pathKey(append(slices.Clip(sp), "notify"))] {
				l.in(sp, "escalate[%d]: missing required key \"notify\"", j)
			}
			checkNotify(append(slices.Clip(sp), "notify"), st.Notify)
		}
	}
}

func (l *loader) validateReport(cfg *Config, notifiers map[string]bool) {
	r := &cfg.Report
	if _, err := ParseClock(r.DailyAt); err != nil {
		l.at([]string{"report", "daily_at"}, "%v", err)
	}
	known := sortedKeys(notifiers)
	for j, n := range r.Notify {
		if !notifiers[n] {
			l.at([]string{"report", "notify", strconv.Itoa(j)}, "unknown notifier %q%s", n, suggest(n, known))
		}
	}
}

func (l *loader) validateMaintenance(cfg *Config) {
	for i := range cfg.Maintenance {
		m := &cfg.Maintenance[i]
		mp := []string{"maintenance", strconv.Itoa(i)}
		key := func(k string) []string { return append(slices.Clip(mp), k) }
		if len(m.Checks) == 0 && !l.seen[pathKey(key("checks"))] {
			l.in(mp, "missing required key \"checks\"")
		}
		for j, pat := range m.Checks {
			kp := append(key("checks"), strconv.Itoa(j))
			if tag, ok := strings.CutPrefix(pat, "tag:"); ok {
				if tag == "" {
					l.at(kp, "empty tag in %q", pat)
				}
				continue
			}
			if _, err := path.Match(pat, ""); err != nil || pat == "" {
				l.at(kp, "invalid pattern %q", pat)
			}
		}
		if m.Schedule == "" {
			if !l.seen[pathKey(key("schedule"))] {
				l.in(mp, "missing required key \"schedule\"")
			}
		} else {
			l.checkSchedule(key("schedule"), m.Schedule, cfg.Agent.Location)
		}
		if m.Duration <= 0 && !l.seen[pathKey(key("duration"))] {
			if l.has(mp, "duration") {
				l.at(key("duration"), "must be greater than 0")
			} else {
				l.in(mp, "missing required key \"duration\"")
			}
		}
		l.validateAnnounce(m, mp)
	}
}

// validateAnnounce checks the announcement keys of a [[maintenance]]
// window: with announce = true a title, a sane announce_before; without,
// none of them (they would silently do nothing).
func (l *loader) validateAnnounce(m *Maintenance, mp []string) {
	key := func(k string) []string { return append(slices.Clip(mp), k) }
	if !m.Announce {
		if l.seen[pathKey(key("announce"))] {
			return // not a boolean: said already
		}
		for _, k := range []string{"title", "message", "announce_before"} {
			if l.has(mp, k) && !l.seen[pathKey(key(k))] {
				l.at(key(k), "has no effect without announce = true")
			}
		}
		return
	}
	switch t := strings.TrimSpace(m.Title); {
	case t == "" && !l.has(mp, "title"):
		l.in(mp, "missing required key \"title\" (announce = true: what the announcement is called)")
	case t == "":
		l.at(key("title"), "must not be empty")
	case len(m.Title) > MaxAnnounceTitle:
		l.at(key("title"), "%d bytes, at most %d", len(m.Title), MaxAnnounceTitle)
	case strings.ContainsAny(m.Title, "\n\r"):
		l.at(key("title"), "must be one line")
	}
	if len(m.Message) > MaxAnnounceMessage {
		l.at(key("message"), "%d bytes, at most %d", len(m.Message), MaxAnnounceMessage)
	}
	if l.seen[pathKey(key("announce_before"))] {
		return
	}
	switch d := m.AnnounceBefore.D(); {
	case d <= 0:
		l.at(key("announce_before"), "must be greater than 0")
	case d > MaxAnnounceBefore:
		l.at(key("announce_before"), "%s: at most %s", Duration(d), Duration(MaxAnnounceBefore))
	}
}

// MaxInterval bounds interval and @every: a check that runs less often than
// monthly is a mistake ("999999h"), and its next run would be years away.
const MaxInterval = 31 * 24 * time.Hour

// MaxTimeout bounds a check's or notifier's timeout: one longer than a day
// is a typo, and would hold a concurrency slot for as long.
const MaxTimeout = 24 * time.Hour

// intervalProblem says what is wrong with a check's interval, or "".
func intervalProblem(d time.Duration) string {
	switch {
	case d < time.Second:
		return "must be at least 1s"
	case d > MaxInterval:
		return "must be at most " + Duration(MaxInterval).String()
	}
	return ""
}

// timeoutProblem says what is wrong with a timeout, or "".
func timeoutProblem(d time.Duration) string {
	switch {
	case d <= 0:
		return "must be greater than 0"
	case d > MaxTimeout:
		return "must be at most " + Duration(MaxTimeout).String()
	}
	return ""
}

// checkSchedule reports a cron expression that does not parse or never fires.
func (l *loader) checkSchedule(kp []string, expr string, loc *time.Location) {
	s, err := cron.Parse(expr, loc, ParseEvery)
	if err != nil {
		l.at(kp, "invalid cron expression %q: %v", expr, err)
		return
	}
	if s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		l.at(kp, "cron expression %q never fires", expr)
	}
}

// checkReadable reports a file the agent will need but cannot open, naming
// it as the file does.
func (l *loader) checkReadable(kp []string, p string) {
	if p == "" {
		return
	}
	f, err := os.Open(p)
	if err != nil {
		if raw, ok := l.table(kp[:len(kp)-1]...)[kp[len(kp)-1]].(string); ok {
			p = raw
		}
		l.at(kp, "cannot read %q: %v", p, pathErr(err))
		return
	}
	_ = f.Close()
}

// ParseClock parses "HH:MM" (24-hour) into the offset from midnight.
func ParseClock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || len(h) != 2 || len(m) != 2 || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("invalid time of day %q (use HH:MM, e.g. \"09:00\")", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// checkURL accepts absolute http and https URLs. A secret URL's value never
// appears in the error.
func checkURL(raw string, secret bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if secret {
			return fmt.Errorf("not an http or https URL")
		}
		return fmt.Errorf("invalid URL %q: want an absolute http:// or https:// URL", redact.URL(raw))
	}
	return nil
}

// validSite accepts a location name: what `pulse cluster` and the status
// page show beside results.
func validSite(s string) bool {
	if len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// checkStoreURL accepts a PostgreSQL connection URL. Its text is never
// repeated: it may hold a password.
func checkStoreURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("not a postgres:// URL (absent: the SQLite file of database)")
	}
	if u.Host == "" && u.Query().Get("host") == "" {
		return fmt.Errorf("postgres:// URL without a host")
	}
	if strings.Trim(u.Path, "/") == "" {
		return fmt.Errorf("postgres:// URL without a database name (postgres://HOST/DATABASE)")
	}
	return nil
}

// checkPublicURL accepts the base URL of the ack links: absolute http(s),
// without credentials, query or fragment, which a link built by appending
// "/ack/TOKEN" would mangle or leak into every alert.
func checkPublicURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid URL %q: want an absolute http:// or https:// URL where people reach the listener", redact.URL(raw))
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("invalid URL %q: want no user, query or fragment, only scheme, host and an optional path", redact.URL(raw))
	}
	return nil
}

// ackKey decodes the ack-link key: base64 (standard or URL alphabet, padded
// or not) when the whole text is, else the bytes as they are. Either way at
// least acklink.MinKeyLen (32) bytes, so a short password typed in the file
// is refused instead of signing guessable links.
func ackKey(s string) ([]byte, error) {
	t := strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(t); err == nil {
			if len(b) < acklink.MinKeyLen {
				return nil, fmt.Errorf("holds %d bytes once base64-decoded, want at least %d random bytes (e.g. head -c 32 /dev/urandom | base64)", len(b), acklink.MinKeyLen)
			}
			return b, nil
		}
	}
	if len(s) < acklink.MinKeyLen {
		return nil, fmt.Errorf("holds %d bytes, want at least %d random bytes (e.g. head -c 32 /dev/urandom | base64)", len(s), acklink.MinKeyLen)
	}
	return []byte(s), nil
}

// checkHostPort accepts host:port with a numeric port (the host may be empty
// for a listener: ":9108").
func checkHostPort(s string, listen bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port", s)
	}
	if host == "" && !listen {
		return fmt.Errorf("invalid address %q: missing host", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("invalid address %q: port must be a number from 1 to 65535", s)
	}
	return nil
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return false
		}
	}
	return true
}
