package config

// pagerdutyNotifier sends PagerDuty Events API v2 events.
var pagerdutyNotifier = notifierKind{
	keys:     []string{"routing_key", "url"},
	validate: validatePagerDuty,
}

func validatePagerDuty(s scope, n *Notifier) {
	s.required("routing_key", n.RoutingKey != "")
	if n.URL != "" {
		if err := checkURL(n.URL.Reveal(), true); err != nil {
			s.at("url", "%v", err)
		}
	}
}
