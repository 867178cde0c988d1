package config

// slackNotifier posts to a Slack incoming webhook.
var slackNotifier = notifierKind{
	keys:     []string{"webhook_url"},
	digest:   true,
	validate: validateSlack,
}

func validateSlack(s scope, n *Notifier) {
	s.required("webhook_url", n.WebhookURL != "")
	if n.WebhookURL != "" {
		if err := checkURL(n.WebhookURL.Reveal(), true); err != nil {
			s.at("webhook_url", "%v", err)
		}
	}
}
