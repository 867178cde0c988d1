package config

import (
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// checkKinds is the registry of check types, one line each. A kind's keys,
// defaults and validation sit together in kind_NAME.go; checks/kinds.go
// registers its constructor under the same name (checks' kinds_agree_test
// holds the two lists equal).
var checkKinds = map[string]checkKind{
	"http":      httpCheck,
	"tcp":       tcpCheck,
	"dns":       dnsCheck,
	"tls":       tlsCheck,
	"smtp":      smtpCheck,
	"icmp":      icmpCheck,
	"domain":    domainCheck,
	"grpc":      grpcCheck,
	"sql":       sqlCheck,
	"command":   commandCheck,
	"system":    systemCheck,
	"heartbeat": heartbeatCheck,
	"metric":    metricCheck,
	"cluster":   clusterCheck,
}

// notifierKinds is the registry of notifier types, one line each, with
// their keys, defaults and validation in notifier_NAME.go. The notifier
// packages trust what these validate: config is the one validator.
var notifierKinds = map[string]notifierKind{
	"pagerduty":  pagerdutyNotifier,
	"slack":      slackNotifier,
	"email":      emailNotifier,
	"webhook":    webhookNotifier,
	"opsgenie":   opsgenieNotifier,
	"teams":      teamsNotifier,
	"discord":    discordNotifier,
	"mattermost": mattermostNotifier,
	"googlechat": googlechatNotifier,
	"telegram":   telegramNotifier,
	"ntfy":       ntfyNotifier,
}

// checkKind is what the loader knows of one check type.
type checkKind struct {
	// keys are the kind's own keys beyond commonCheckKeys; keys of
	// [check.expect] are written "expect.NAME".
	keys []string
	// groups are the field groups of Check its keys live in.
	groups fieldGroup
	// defaults fills the kind's keys the file leaves out (may be nil).
	defaults func(s scope, c *Check)
	// validate reports the problems of the kind's keys.
	validate func(s scope, c *Check)
	// foreignKeys reports keys of the kind that do not apply to this
	// check's settings (a metric's other source); nil when all apply.
	foreignKeys func(s scope, c *Check, present []string)
}

// fieldGroup names the embedded field groups of Check (see Check).
type fieldGroup uint8

const (
	httpGroup fieldGroup = 1 << iota // HTTPFields
	kindGroup                        // KindFields
)

// notifierKind is what the loader knows of one notifier type.
type notifierKind struct {
	// keys are the type's keys beyond name, type and timeout.
	keys []string
	// digest: the channel gets the daily report unless [report] says
	// otherwise.
	digest bool
	// defaults fills the type's keys the file leaves out (may be nil).
	defaults func(s scope, n *Notifier)
	// validate reports the problems of the type's keys.
	validate func(s scope, n *Notifier)
}

// scope is one [[check]] or [[notifier]] table as its kind's defaults and
// validation see it: the loader, the whole config and the table's path.
type scope struct {
	l    *loader
	cfg  *Config
	path []string // e.g. "check", "3"
}

// key is the path of k ("expect.latency") in the table.
func (s scope) key(k string) []string {
	return append(slices.Clip(s.path), strings.Split(k, ".")...)
}

// has reports whether the table sets k (directly or as k_file).
func (s scope) has(k string) bool { return s.l.has(s.path, k) }

// at reports a problem with the value of k.
func (s scope) at(k, format string, args ...any) { s.l.at(s.key(k), format, args...) }

// required reports k missing unless set, or a problem was already
// reported at k (a bad ${VAR}, an unreadable k_file).
func (s scope) required(k string, set bool) {
	if !set && !s.l.seen[pathKey(s.key(k))] && !s.l.seen[pathKey(s.key(k+"_file"))] {
		s.l.in(s.path, "missing required key %q", k)
	}
}

// commonCheckKeys are the keys every check kind accepts.
var commonCheckKeys = []string{
	"name", "type", "interval", "schedule", "timezone", "timeout", "severity",
	"warn_severity", "fail_after", "recover_after", "tags", "depends_on",
	"description", "runbook", "enabled", "public", "locations", "quorum",
}

// Kinds returns the check types pulse knows, sorted.
func Kinds() []string { return slices.Sorted(maps.Keys(checkKinds)) }

// KindKeys returns, for each check type, every key a [[check]] of that type
// accepts (common keys included; keys of [check.expect] as "expect.NAME").
// A "NAME_file" form is accepted wherever NAME holds a string.
func KindKeys() map[string][]string {
	m := make(map[string][]string, len(checkKinds))
	for name, k := range checkKinds {
		keys := slices.Concat(commonCheckKeys, k.keys)
		slices.Sort(keys)
		m[name] = slices.Compact(keys)
	}
	return m
}

// NotifierKinds returns the notifier types pulse knows, sorted.
func NotifierKinds() []string { return slices.Sorted(maps.Keys(notifierKinds)) }

// applies reports whether key (maybe "expect.x", maybe "x_file") is in keys.
func applies(keys []string, key string) bool {
	if slices.Contains(keys, key) {
		return true
	}
	base, ok := strings.CutSuffix(key, "_file")
	return ok && slices.Contains(keys, base)
}

// checkApplicability reports keys that exist in the schema but not for the
// check's (or notifier's) type, e.g. url on a sql check.
func (l *loader) checkApplicability(cfg *Config) {
	kk := KindKeys()
	var all []string
	for _, keys := range kk {
		all = append(all, keys...)
	}
	raw, _ := l.root["check"].([]any)
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		kind, ok := checkKinds[c.Type]
		if !ok || i >= len(raw) {
			continue
		}
		keys := kk[c.Type]
		m, _ := raw[i].(map[string]any)
		foreign := func(k string) bool { return applies(all, k) && !applies(keys, k) }
		if kind.foreignKeys == nil && !anyKey(m, foreign) {
			// Most checks set only their own type's keys: found out
			// without sorting them or building key paths, which large
			// configs would pay for once per check.
			continue
		}
		s := scope{l: l, cfg: cfg, path: []string{"check", strconv.Itoa(i)}}
		present := slices.Sorted(checkKeys(m))
		for _, k := range present {
			if foreign(k) {
				l.notApplicable(s.key(k), "key %q does not apply to type %q", k, c.Type)
			}
		}
		if kind.foreignKeys != nil {
			kind.foreignKeys(s, c, present)
		}
	}
	var allN []string
	for _, k := range notifierKinds {
		allN = append(allN, k.keys...)
	}
	for i := range cfg.Notifiers {
		n := &cfg.Notifiers[i]
		kind, ok := notifierKinds[n.Type]
		if !ok {
			continue
		}
		np := []string{"notifier", strconv.Itoa(i)}
		for _, k := range sortedKeys(l.table(np...)) {
			if applies(allN, k) && !applies(kind.keys, k) {
				l.notApplicable(append(slices.Clip(np), k), "key %q does not apply to type %q", k, n.Type)
			}
		}
	}
}

// notApplicable reports a key that does not apply, once.
func (l *loader) notApplicable(kp []string, format string, args ...any) {
	k := pathKey(kp)
	if l.seen[k] {
		return
	}
	l.seen[k] = true
	l.in(kp, format, args...)
}

// checkKeys yields the keys a raw check table sets, those of its expect
// table as "expect.KEY", in no particular order.
func checkKeys(m map[string]any) iter.Seq[string] {
	return func(yield func(string) bool) {
		for k, v := range m {
			if k != "expect" {
				if !yield(k) {
					return
				}
				continue
			}
			sub, _ := v.(map[string]any)
			for sk := range sub {
				if !yield("expect." + sk) {
					return
				}
			}
		}
	}
}

// anyKey reports whether the raw check table m sets a key for which f is
// true.
func anyKey(m map[string]any, f func(string) bool) bool {
	for k := range checkKeys(m) {
		if f(k) {
			return true
		}
	}
	return false
}
