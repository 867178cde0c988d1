// Package registry builds a notifier from its [[notifier]] table: an
// explicit map from type to constructor, one line per integration.
package registry

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/discord"
	"github.com/pulse-monitor/pulse/pkg/notify/email"
	"github.com/pulse-monitor/pulse/pkg/notify/googlechat"
	"github.com/pulse-monitor/pulse/pkg/notify/mattermost"
	"github.com/pulse-monitor/pulse/pkg/notify/ntfy"
	"github.com/pulse-monitor/pulse/pkg/notify/opsgenie"
	"github.com/pulse-monitor/pulse/pkg/notify/pagerduty"
	"github.com/pulse-monitor/pulse/pkg/notify/slack"
	"github.com/pulse-monitor/pulse/pkg/notify/teams"
	"github.com/pulse-monitor/pulse/pkg/notify/telegram"
	"github.com/pulse-monitor/pulse/pkg/notify/webhook"
)

// Options are what every notifier gets besides its own table.
type Options struct {
	Logger     *slog.Logger
	HTTPClient *http.Client // nil: Go's default transport settings
	Now        func() time.Time
	Agent      string // the agent's name
	Host       string // the host it runs on
}

type constructor func(c *config.Notifier, o notify.Options) (notify.Notifier, error)

func kinds() map[string]constructor {
	return map[string]constructor{
		"pagerduty": func(c *config.Notifier, o notify.Options) (notify.Notifier, error) {
			return pagerduty.New(pagerduty.ConfigFrom(c), o)
		},
		"slack": func(c *config.Notifier, o notify.Options) (notify.Notifier, error) {
			return slack.New(slack.ConfigFrom(c), o)
		},
		"email": func(c *config.Notifier, o notify.Options) (notify.Notifier, error) {
			return email.New(email.ConfigFrom(c), o)
		},
		"webhook": func(c *config.Notifier, o notify.Options) (notify.Notifier, error) {
			return webhook.New(webhook.ConfigFrom(c), o)
		},
		"opsgenie": func(c *config.Notifier, o notify.Options) (notify.Notifier, error) {
			return opsgenie.New(opsgenie.ConfigFrom(c), o)
		},
		"teams": func(c *config.Notifier, o notify.Options) (notify.Notifier, error) {
			return teams.New(teams.ConfigFrom(c), o)
		},
		"discord": func(c *config.Notifier, o notify.Options) (notify.Notifier, error) {
			return discord.New(discord.ConfigFrom(c), o)
		},
		"mattermost": func(c *config.Notifier, o notify.Options) (notify.Notifier, error) {
			return mattermost.New(mattermost.ConfigFrom(c), o)
		},
		"googlechat": func(c *config.Notifier, o notify.Options) (notify.Notifier, error) {
			return googlechat.New(googlechat.ConfigFrom(c), o)
		},
		"telegram": func(c *config.Notifier, o notify.Options) (notify.Notifier, error) {
			return telegram.New(telegram.ConfigFrom(c), o)
		},
		"ntfy": func(c *config.Notifier, o notify.Options) (notify.Notifier, error) {
			return ntfy.New(ntfy.ConfigFrom(c), o)
		},
	}
}

// Types lists the notifier types New knows, for validation messages.
func Types() []string {
	types := make([]string, 0, len(kinds()))
	for t := range kinds() {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

// New builds the notifier described by c.
func New(c *config.Notifier, o Options) (notify.Notifier, error) {
	mk, ok := kinds()[c.Type]
	if !ok {
		return nil, fmt.Errorf("notifier %q: type %q is not supported", c.Name, c.Type)
	}
	return mk(c, notify.Options{Logger: o.Logger, HTTPClient: o.HTTPClient, Now: o.Now, Agent: o.Agent, Host: o.Host})
}
