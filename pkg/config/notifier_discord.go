package config

// discordNotifier posts to a Discord channel's execute-webhook URL. The URL
// holds the webhook's token, so it is a Secret like Slack's.
var discordNotifier = notifierKind{
	keys:     []string{"webhook_url"},
	digest:   true,
	validate: validateDiscord,
}

func validateDiscord(s scope, n *Notifier) {
	s.required("webhook_url", n.WebhookURL != "")
	if n.WebhookURL != "" {
		if err := checkURL(n.WebhookURL.Reveal(), true); err != nil {
			s.at("webhook_url", "%v", err)
		}
	}
}
