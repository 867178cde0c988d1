// Package config is pulse's configuration: the TOML schema (README.md,
// "Configuration"), a strict decoder that knows the line of every key, ${VAR} and *_file expansion,
// defaults, and a validator that reports every problem at once.
package config

import (
	"fmt"
	"time"
)

// Config is a loaded, defaulted and validated pulse configuration.
type Config struct {
	// Path is the file the configuration was read from ("" when built in code).
	Path string `toml:"-"`

	Agent       Agent                 `toml:"agent"`
	Targets     Targets               `toml:"targets"`
	Defaults    Defaults              `toml:"defaults"`
	Checks      []Check               `toml:"check"`
	Notifiers   []Notifier            `toml:"notifier"`
	Escalation  map[string]Escalation `toml:"escalation"` // keys "P1".."P4"
	Report      Report                `toml:"report"`
	Maintenance []Maintenance         `toml:"maintenance"`
	// Subscriptions is the [subscriptions] table (subscriptions.go).
	Subscriptions Subscriptions `toml:"subscriptions"`
}

// Agent is the [agent] table.
type Agent struct {
	Name     string `toml:"name"` // prefixes PagerDuty dedup keys; default: host name
	Database string `toml:"database"`
	// Store, when set, is a postgres:// URL: the agents that share it keep
	// their history, incidents and outbox there instead of in Database.
	Store Secret `toml:"store"`
	// Site is where this agent runs ("fra"), the key location: checks
	// with locations run from the agents of those (Location is the
	// timezone).
	Site            string   `toml:"location"`
	Listen          string   `toml:"listen"`
	Timezone        string   `toml:"timezone"`
	Retention       Duration `toml:"retention"`
	MaxDBSize       ByteSize `toml:"max_db_size"`
	MaxConcurrency  int      `toml:"max_concurrency"`
	StatusPageTitle string   `toml:"status_page_title"`
	ListenToken     Secret   `toml:"listen_token"`
	HeartbeatURL    Secret   `toml:"heartbeat_url"`
	FlapChanges     int      `toml:"flap_changes"` // state changes within flap_window that mark a check flapping (default 5)
	FlapWindow      Duration `toml:"flap_window"`  // default 1h
	// PublicURL is where people reach the listener (https://status.example.com);
	// with Secret it turns on the ack links of P1/P2 alerts.
	PublicURL string `toml:"public_url"`
	// Secret signs the ack links; it is meant to be set as secret_file, a
	// file of at least 32 random bytes (raw or base64).
	Secret Secret `toml:"secret"`

	// Location is Timezone resolved; set by Load.
	Location *time.Location `toml:"-"`
	// AckKey is Secret decoded (from base64 when it is base64), the HMAC key
	// of the ack links; set by Load, empty when Secret is.
	AckKey Secret `toml:"-" json:"-"`
}

// StoreTarget is where the history is: the PostgreSQL URL of store when it
// is set, else the SQLite file of database.
func (a *Agent) StoreTarget() string {
	if a.Store != "" {
		return a.Store.Reveal()
	}
	return a.Database
}

// AckLinks reports whether alerts carry ack links: the listener serves them,
// people can reach it and there is a key to sign them with.
func (a *Agent) AckLinks() bool {
	return a.Listen != "" && a.PublicURL != "" && a.AckKey != ""
}

// Targets is the [targets] table: the KPI targets of status and reports.
type Targets struct {
	Availability float64  `toml:"availability"` // percent
	ErrorRate    float64  `toml:"error_rate"`   // percent
	HTTPLatency  Duration `toml:"http_latency"`
	PageLoad     Duration `toml:"page_load"`
	SQLLatency   Duration `toml:"sql_latency"`
}

// Defaults is the [defaults] table, inherited by every check.
type Defaults struct {
	Interval     Duration `toml:"interval"`
	Timeout      Duration `toml:"timeout"`
	Severity     string   `toml:"severity"`
	FailAfter    int      `toml:"fail_after"`
	RecoverAfter int      `toml:"recover_after"`
}

// Check is one [[check]] table. It carries the keys of every check kind; the
// validator rejects keys that do not belong to the check's type.
//
// The keys of one kind or two sit behind embedded pointers, so a check holds
// only its own kind's: one struct of every kind's keys would make each
// check pay for all of them, and an agent holds every check in memory
// (docs/BENCHMARKS.md, goal 3). Load
// allocates HTTPFields for http and metric checks and KindFields for every
// type but http, so code reading a key of the check's own type never meets
// a nil; a Check built in code must set the groups its type reads.
type Check struct {
	// Common keys.
	Name         string   `toml:"name"`
	Type         string   `toml:"type"`
	Interval     Duration `toml:"interval"`
	Schedule     string   `toml:"schedule"`
	Timezone     string   `toml:"timezone"`
	Timeout      Duration `toml:"timeout"`
	Severity     string   `toml:"severity"`
	WarnSeverity string   `toml:"warn_severity"`
	FailAfter    int      `toml:"fail_after"`
	RecoverAfter int      `toml:"recover_after"`
	Tags         []string `toml:"tags"`
	DependsOn    []string `toml:"depends_on"`
	Description  string   `toml:"description"`
	Runbook      string   `toml:"runbook"`
	Enabled      *bool    `toml:"enabled"`
	Public       *bool    `toml:"public"`
	// Locations, when set, runs the check from the agents of each of these
	// [agent].location values; Quorum of them decide (check_locations.go).
	Locations []string `toml:"locations"`
	Quorum    int      `toml:"quorum"`

	CAFile string `toml:"ca_file"` // http, tls, metric

	// Expect is the [check.expect] table, nil when the check has none;
	// Expected reads it either way.
	Expect *Expect `toml:"expect"`

	*HTTPFields // http, metric
	*KindFields // every type but http

	// Line is the line of the check's [[check]] header in Config.Path.
	Line int `toml:"-"`
	// Location is Timezone (or [agent].timezone) resolved; set by Load.
	Location *time.Location `toml:"-"`
}

// HTTPFields are the request keys of http checks and http-sourced metrics.
type HTTPFields struct {
	URL                string            `toml:"url"`
	Method             string            `toml:"method"`
	Headers            map[string]Secret `toml:"headers"`
	Body               string            `toml:"body"`
	FollowRedirects    *bool             `toml:"follow_redirects"`
	InsecureSkipVerify bool              `toml:"insecure_skip_verify"`
	BasicAuth          *BasicAuth        `toml:"basic_auth"`
	MaxBody            ByteSize          `toml:"max_body"`
}

// KindFields are the keys of the kinds other than http.
type KindFields struct {
	// tcp, tls.
	Address    string `toml:"address"`
	ServerName string `toml:"server_name"`
	WarnDays   int    `toml:"warn_days"`
	CritDays   int    `toml:"crit_days"`

	// dns: Query is the name to resolve. sql: Query is the SQL statement.
	Query  string `toml:"query"`
	Record string `toml:"record"`
	Server string `toml:"server"`

	// sql (and metric with source = "sql").
	Driver string `toml:"driver"`
	DSN    Secret `toml:"dsn"`

	// Thresholds: sql, command, system, metric.
	WarnIf Threshold `toml:"warn_if"`
	CritIf Threshold `toml:"crit_if"`

	// command.
	Command []string          `toml:"command"`
	Env     map[string]string `toml:"env"`
	// Perf names the perfdata label that warn_if / crit_if apply to (command).
	Perf string `toml:"perf"`

	// system.
	Metric string `toml:"metric"`
	Path   string `toml:"path"`

	// heartbeat.
	Period Duration `toml:"period"`
	Grace  Duration `toml:"grace"`

	// metric.
	Source     string   `toml:"source"`
	Value      string   `toml:"value"`
	Compare    Duration `toml:"compare"`
	WarnIfDrop float64  `toml:"warn_if_drop"`
	CritIfDrop float64  `toml:"crit_if_drop"`
}

// fmt prints a struct behind a pointer inside another struct without
// calling the methods of its fields when the verb does not fit it (%s),
// which would show Secret values; these Format methods print the groups
// with every field's own methods.
type (
	httpFieldsPlain HTTPFields
	kindFieldsPlain KindFields
)

// Format prints the fields, secrets as <secret>, under every verb.
func (h HTTPFields) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), httpFieldsPlain(h))
}

// Format prints the fields, secrets as <secret>, under every verb.
func (k KindFields) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), kindFieldsPlain(k))
}

// usesHTTPFields and usesKindFields report whether checks of type typ read
// HTTPFields or KindFields (an unknown type: both, so that validation can
// read any key).
func usesHTTPFields(typ string) bool {
	k, ok := checkKinds[typ]
	return !ok || k.groups&httpGroup != 0
}

func usesKindFields(typ string) bool {
	k, ok := checkKinds[typ]
	return !ok || k.groups&kindGroup != 0
}

// AllocFields gives c the field groups its type reads (see Check).
func (c *Check) AllocFields() {
	if c.HTTPFields == nil && usesHTTPFields(c.Type) {
		c.HTTPFields = &HTTPFields{}
	}
	if c.KindFields == nil && usesKindFields(c.Type) {
		c.KindFields = &KindFields{}
	}
}

// WithFields returns c when it has the field groups its type reads (a
// loaded Check always has), else a copy of c given them: a Check built in
// code then reads zero values, as before the groups.
func (c *Check) WithFields() *Check {
	if (c.HTTPFields != nil || !usesHTTPFields(c.Type)) && (c.KindFields != nil || !usesKindFields(c.Type)) {
		return c
	}
	cc := *c
	cc.AllocFields()
	return &cc
}

// Expected returns the check's [check.expect] table, zero when it has none.
func (c *Check) Expected() Expect {
	if c.Expect == nil {
		return Expect{}
	}
	return *c.Expect
}

// IsEnabled reports whether the check runs (enabled defaults to true).
func (c *Check) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }

// IsPublic reports whether the check is shown on the status page (default true).
func (c *Check) IsPublic() bool { return c.Public == nil || *c.Public }

// OnStatusPage reports whether the status page (and /feed.xml) shows the
// check and its incidents: enabled and public.
func (c *Check) OnStatusPage() bool { return c.IsEnabled() && c.IsPublic() }

// BasicAuth is an http check's basic_auth table.
type BasicAuth struct {
	Username string `toml:"username"`
	Password Secret `toml:"password"`
}

// Format prints the password as <secret> under every verb. fmt prints a
// nested pointer under a verb it does not fit (%s) without calling methods,
// which would show the Secret's value.
func (b BasicAuth) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "{Username:%s Password:%s}", b.Username, b.Password)
}

// Expect is a check's [check.expect] table.
type Expect struct {
	Status          []StatusMatcher   `toml:"status"`
	Latency         Duration          `toml:"latency"`
	BodyContains    string            `toml:"body_contains"`
	BodyNotContains string            `toml:"body_not_contains"`
	BodyRegex       string            `toml:"body_regex"`
	JSON            map[string]any    `toml:"json"`
	Headers         map[string]string `toml:"headers"`
	CertExpiry      Duration          `toml:"cert_expiry"`
	Values          []string          `toml:"values"` // dns
}

// Notifier is one [[notifier]] table; keys depend on Type.
type Notifier struct {
	Name string `toml:"name"`
	Type string `toml:"type"` // see NotifierKinds: pagerduty, slack, email, webhook, opsgenie, teams, discord, mattermost, googlechat, telegram, ntfy

	// pagerduty.
	RoutingKey Secret `toml:"routing_key"`
	// pagerduty (events endpoint override), webhook.
	URL Secret `toml:"url"`
	// slack, teams, discord, mattermost, googlechat.
	WebhookURL Secret `toml:"webhook_url"`
	// mattermost: the channel that overrides the webhook's.
	Channel string `toml:"channel"`
	// webhook.
	Headers map[string]Secret `toml:"headers"`

	// email.
	Host     string   `toml:"host"`
	Port     int      `toml:"port"`
	TLS      string   `toml:"tls"`      // starttls | implicit | none
	Username string   `toml:"username"` // also mattermost: the poster's name
	Password Secret   `toml:"password"`
	From     string   `toml:"from"`
	To       []string `toml:"to"`

	// opsgenie: the API integration's key and the team the alerts are
	// routed to.
	APIKey Secret `toml:"api_key"`
	Team   string `toml:"team"`
	// opsgenie, telegram: the API's base URL (Opsgenie's EU instance is
	// another host; a self-hosted Bot API server, or a test's).
	APIURL string `toml:"api_url"`

	// telegram: the bot token is the credential and sits in the request
	// path.
	BotToken Secret      `toml:"bot_token"`
	ChatID   IntOrString `toml:"chat_id"`

	// ntfy: anyone who knows a topic on a public server can read it, so the
	// topic is a Secret like the token.
	Server string `toml:"server"`
	Topic  Secret `toml:"topic"`
	Token  Secret `toml:"token"`

	Timeout Duration `toml:"timeout"`

	Line int `toml:"-"`
}

// Escalation is one [escalation.Pn] table.
type Escalation struct {
	Notify   []string         `toml:"notify"`
	Within   Duration         `toml:"within"`
	Repeat   Duration         `toml:"repeat"`
	Escalate []EscalationStep `toml:"escalate"`
	Digest   bool             `toml:"digest"`
}

// EscalationStep is one [[escalation.Pn.escalate]] entry.
type EscalationStep struct {
	After  Duration `toml:"after"`
	Notify []string `toml:"notify"`
}

// Report is the [report] table.
type Report struct {
	DailyAt string   `toml:"daily_at"` // "HH:MM" in [agent].timezone
	Notify  []string `toml:"notify"`
}

// Maintenance is one [[maintenance]] window.
type Maintenance struct {
	Checks   []string `toml:"checks"` // globs on names, or "tag:NAME"
	Schedule string   `toml:"schedule"`
	Duration Duration `toml:"duration"`
	// Announce has the agent announce each run of the window AnnounceBefore
	// ahead (DefaultAnnounceBefore when unset): on the status page, in
	// /feed.xml and to subscribers, with Title (required) and Message
	// (markdown, optional).
	Announce       bool     `toml:"announce"`
	Title          string   `toml:"title"`
	Message        string   `toml:"message"`
	AnnounceBefore Duration `toml:"announce_before"`
	Line           int      `toml:"-"`
}

// DefaultAnnounceBefore is how long ahead a [[maintenance]] window with
// announce = true is announced when announce_before is unset.
const DefaultAnnounceBefore = 24 * time.Hour

// MaxAnnounceBefore bounds announce_before: a window is announced at most
// this long ahead.
const MaxAnnounceBefore = 90 * 24 * time.Hour

// Bounds of what an announcement says.
const (
	MaxAnnounceTitle   = 200
	MaxAnnounceMessage = 4096
)

// Severities in order, most severe first.
var Severities = []string{"P1", "P2", "P3", "P4"}
