package config

// teamsNotifier posts Adaptive Cards to a Microsoft Teams channel through a
// Workflows (Power Automate) webhook.
var teamsNotifier = notifierKind{
	keys:     []string{"webhook_url"},
	digest:   true,
	validate: validateTeams,
}

func validateTeams(s scope, n *Notifier) {
	s.required("webhook_url", n.WebhookURL != "")
	if n.WebhookURL != "" {
		// The URL is a credential (its sig= parameter signs the trigger):
		// errors say what is wrong without showing it.
		if err := checkURL(n.WebhookURL.Reveal(), true); err != nil {
			s.at("webhook_url", "%v", err)
		}
	}
}
