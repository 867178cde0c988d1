package config

// webhookNotifier posts pulse's JSON events to a URL.
var webhookNotifier = notifierKind{
	keys:     []string{"url", "headers"},
	validate: validateWebhook,
}

func validateWebhook(s scope, n *Notifier) {
	s.required("url", n.URL != "")
	if n.URL != "" {
		if err := checkURL(n.URL.Reveal(), true); err != nil {
			s.at("url", "%v", err)
		}
	}
	for _, h := range sortedKeys(n.Headers) {
		if !validHeaderName(h) {
			s.l.at(append(s.key("headers"), h), "invalid header name")
		}
	}
}
