package config

import "strings"

// DefaultNtfyServer is the ntfy server a notifier publishes to unless
// server names a self-hosted one.
const DefaultNtfyServer = "https://ntfy.sh"

// ntfyNotifier publishes to an ntfy topic.
var ntfyNotifier = notifierKind{
	keys:     []string{"server", "topic", "token"},
	defaults: ntfyDefaults,
	validate: validateNtfy,
}

func ntfyDefaults(s scope, n *Notifier) {
	if !s.has("server") {
		n.Server = DefaultNtfyServer
	}
}

func validateNtfy(s scope, n *Notifier) {
	s.required("topic", n.Topic != "")
	// ntfy topics are one path segment of letters, digits, _ and -, at most
	// 64 of them; the message does not show the topic, which is a secret.
	if t := n.Topic.Reveal(); t != "" && (len(t) > 64 || strings.TrimLeft(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "") {
		s.at("topic", "want 1 to 64 letters, digits, '_' or '-'")
	}
	if err := checkURL(n.Server, false); err != nil {
		s.at("server", "%v", err)
	}
}
