package config

import "slices"

// Defaults of [subscriptions].
const (
	DefaultSubscriberMaxPerHour = 10
	DefaultSignupPerHour        = 5
)

// Subscriptions is the [subscriptions] table: people subscribe to the
// status page's public incident updates by email (double opt-in) or
// webhook (through the API token).
type Subscriptions struct {
	Enabled bool `toml:"enabled"`
	// EmailNotifier names the email [[notifier]] whose SMTP server and
	// sender address carry subscriber mail; without it only webhook
	// subscriptions are offered.
	EmailNotifier string `toml:"email_notifier"`
	// MaxPerHour bounds the messages one subscriber gets in an hour.
	MaxPerHour int `toml:"max_per_hour"`
	// SignupPerHour bounds the sign-ups one client address may make in an
	// hour through the status page's form.
	SignupPerHour int `toml:"signup_per_hour"`
}

func (l *loader) subscriptionDefaults(cfg *Config) {
	sp := []string{"subscriptions"}
	if !l.has(sp, "max_per_hour") {
		cfg.Subscriptions.MaxPerHour = DefaultSubscriberMaxPerHour
	}
	if !l.has(sp, "signup_per_hour") {
		cfg.Subscriptions.SignupPerHour = DefaultSignupPerHour
	}
}

func (l *loader) validateSubscriptions(cfg *Config) {
	s := &cfg.Subscriptions
	key := func(k string) []string { return []string{"subscriptions", k} }
	if s.MaxPerHour < 1 {
		l.at(key("max_per_hour"), "must be at least 1")
	}
	if s.SignupPerHour < 1 {
		l.at(key("signup_per_hour"), "must be at least 1")
	}
	if s.EmailNotifier != "" {
		i := slices.IndexFunc(cfg.Notifiers, func(n Notifier) bool { return n.Name == s.EmailNotifier })
		switch {
		case i < 0:
			var known []string
			for _, n := range cfg.Notifiers {
				if n.Type == "email" {
					known = append(known, n.Name)
				}
			}
			l.at(key("email_notifier"), "unknown notifier %q%s", s.EmailNotifier, suggest(s.EmailNotifier, known))
		case cfg.Notifiers[i].Type != "email":
			l.at(key("email_notifier"), "notifier %q is of type %q, want an email notifier", s.EmailNotifier, cfg.Notifiers[i].Type)
		}
	}
	if !s.Enabled {
		return
	}
	// The links in subscriber mail point at the listener and are signed
	// with the agent's key: without all three there is nothing to confirm
	// or unsubscribe with.
	var missing []string
	a := &cfg.Agent
	if a.Listen == "" {
		missing = append(missing, "[agent].listen")
	}
	if a.PublicURL == "" {
		missing = append(missing, "[agent].public_url")
	}
	if a.Secret == "" {
		missing = append(missing, "[agent].secret_file")
	}
	if len(missing) > 0 {
		l.at(key("enabled"), "subscriptions need %s", joinAnd(missing))
	}
}

// joinAnd joins words as "a, b and c".
func joinAnd(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	out := words[0]
	for _, w := range words[1 : len(words)-1] {
		out += ", " + w
	}
	return out + " and " + words[len(words)-1]
}
