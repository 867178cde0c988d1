package config

import "net/url"

// googlechatNotifier posts to a Google Chat space's incoming webhook. Its
// URL carries the key and token query parameters, both secrets.
var googlechatNotifier = notifierKind{
	keys:     []string{"webhook_url"},
	digest:   true,
	validate: validateGoogleChat,
}

func validateGoogleChat(s scope, n *Notifier) {
	s.required("webhook_url", n.WebhookURL != "")
	if n.WebhookURL == "" {
		return
	}
	raw := n.WebhookURL.Reveal()
	if err := checkURL(raw, true); err != nil {
		s.at("webhook_url", "%v", err)
		return
	}
	// A URL copied without its query string would only fail at the first
	// incident; the message names the parameters, never their values.
	u, _ := url.Parse(raw)
	if q := u.Query(); q.Get("key") == "" || q.Get("token") == "" {
		s.at("webhook_url", "want the webhook URL as Google Chat shows it, with its key= and token= parameters")
	}
}
