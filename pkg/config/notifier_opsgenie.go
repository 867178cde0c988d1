package config

// opsgenieNotifier opens, acknowledges and closes Opsgenie alerts (Alert
// API v2).
var opsgenieNotifier = notifierKind{
	keys:     []string{"api_key", "api_url", "team"},
	validate: validateOpsgenie,
}

// maxOpsgenieTeam is the longest team name Opsgenie accepts in a
// responder.
const maxOpsgenieTeam = 100

func validateOpsgenie(s scope, n *Notifier) {
	s.required("api_key", n.APIKey != "")
	if n.APIURL != "" {
		// Not a secret: the URL only says which Opsgenie instance (US or
		// EU) the account lives on; the key is what authenticates.
		if err := checkURL(n.APIURL, false); err != nil {
			s.at("api_url", "%v", err)
		}
	}
	if len(n.Team) > maxOpsgenieTeam {
		s.at("team", "longer than %d characters", maxOpsgenieTeam)
	}
}
