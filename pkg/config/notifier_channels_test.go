package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestOpsgenieAndTeams: both tables load with their keys, secrets from the
// environment, the EU URL kept as written; Teams gets the digest by
// default like Slack, Opsgenie does not (a digest is no alert); and
// neither secret shows when the config is printed.
func TestOpsgenieAndTeams(t *testing.T) {
	const key = "0123abcd-genie-key-4567"
	const hook = "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=S1gS3cr3t"
	cfg, err := parseString(t, t.TempDir(), `
[[notifier]]
name = "genie"
type = "opsgenie"
api_key = "${GENIE_KEY}"
api_url = "https://api.eu.opsgenie.com"
team = "sre"

[[notifier]]
name = "chan"
type = "teams"
webhook_url = "${TEAMS_URL}"
`, map[string]string{"GENIE_KEY": key, "TEAMS_URL": hook})
	if err != nil {
		t.Fatal(err)
	}
	g, c := cfg.Notifiers[0], cfg.Notifiers[1]
	if g.APIKey.Reveal() != key || g.APIURL != "https://api.eu.opsgenie.com" || g.Team != "sre" {
		t.Fatalf("opsgenie %+v", g)
	}
	if c.WebhookURL.Reveal() != hook {
		t.Fatalf("teams %+v", c)
	}
	if !slices.Equal(cfg.Report.Notify, []string{"chan"}) {
		t.Fatalf("report.notify %v, want the teams notifier only", cfg.Report.Notify)
	}
	printed := fmt.Sprintf("%v %+v %#v", cfg.Notifiers, cfg.Notifiers, cfg.Notifiers)
	for _, sec := range []string{key, "S1gS3cr3t"} {
		if strings.Contains(printed, sec) {
			t.Errorf("printed config shows %q", sec)
		}
	}
}
