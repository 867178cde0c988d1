package config

import (
	"strings"
	"unicode"
)

// mattermostNotifier posts to a Mattermost incoming webhook. channel and
// username override the webhook's own (Mattermost ignores them unless the
// webhook allows it, and username also needs the server's "override
// usernames" setting).
var mattermostNotifier = notifierKind{
	keys:     []string{"webhook_url", "channel", "username"},
	digest:   true,
	validate: validateMattermost,
}

// mattermostNameMax bounds channel and user names (Mattermost's own limit
// on both is 64).
const mattermostNameMax = 64

func validateMattermost(s scope, n *Notifier) {
	s.required("webhook_url", n.WebhookURL != "")
	if n.WebhookURL != "" {
		if err := checkURL(n.WebhookURL.Reveal(), true); err != nil {
			s.at("webhook_url", "%v", err)
		}
	}
	// A channel is a name ("town-square") or "@user" for a direct message,
	// never a display name: one with spaces would only fail at send time.
	if c := n.Channel; c != "" && (len(c) > mattermostNameMax || strings.ContainsFunc(c, unicode.IsSpace) || strings.HasPrefix(c, "#")) {
		s.at("channel", "invalid channel %q: want a channel name like \"town-square\" or \"@user\"", c)
	}
	if u := n.Username; u != "" && (len(u) > mattermostNameMax || strings.ContainsFunc(u, unicode.IsControl)) {
		s.at("username", "invalid username: at most %d printable characters", mattermostNameMax)
	}
}
