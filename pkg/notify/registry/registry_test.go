package registry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/notifytest"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		in      config.Notifier
		wantErr string
	}{
		{"pagerduty", config.Notifier{Type: "pagerduty", RoutingKey: "key"}, ""},
		{"slack", config.Notifier{Type: "slack", WebhookURL: "https://hooks.slack.com/services/T/B/X"}, ""},
		{"email", config.Notifier{Type: "email", Host: "smtp.example.com", From: "a@example.com", To: []string{"b@example.com"}}, ""},
		{"webhook", config.Notifier{Type: "webhook", URL: "https://hooks.example.com/pulse"}, ""},
		{"opsgenie", config.Notifier{Type: "opsgenie", APIKey: "key", APIURL: "https://api.eu.opsgenie.com"}, ""},
		{"teams", config.Notifier{Type: "teams", WebhookURL: "https://prod-00.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=y"}, ""},
		{"discord", config.Notifier{Type: "discord", WebhookURL: "https://discord.com/api/webhooks/1/tok"}, ""},
		{"discord without url", config.Notifier{Type: "discord"}, "webhook_url is required"},
		{"mattermost", config.Notifier{Type: "mattermost", WebhookURL: "https://mm.example.com/hooks/k", Channel: "alerts"}, ""},
		{"mattermost without url", config.Notifier{Type: "mattermost"}, "webhook_url is required"},
		{"googlechat", config.Notifier{Type: "googlechat", WebhookURL: "https://chat.googleapis.com/v1/spaces/S/messages?key=k&token=t"}, ""},
		{"googlechat without url", config.Notifier{Type: "googlechat"}, "webhook_url is required"},
		{"telegram", config.Notifier{Type: "telegram", BotToken: "1:x", ChatID: "-100"}, ""},
		{"telegram without token", config.Notifier{Type: "telegram", ChatID: "-100"}, "bot_token is required"},
		{"ntfy", config.Notifier{Type: "ntfy", Topic: "pulse-alerts"}, ""},
		{"ntfy without topic", config.Notifier{Type: "ntfy"}, "topic is required"},
		{"unknown type", config.Notifier{Type: "pager"}, `type "pager" is not supported`},
		{"pagerduty without key", config.Notifier{Type: "pagerduty"}, "routing_key is required"},
		{"slack without url", config.Notifier{Type: "slack"}, "webhook_url is required"},
		{"email without host", config.Notifier{Type: "email", From: "a@example.com", To: []string{"b@example.com"}}, "host is required"},
		{"webhook without url", config.Notifier{Type: "webhook"}, "url is required"},
		{"opsgenie without key", config.Notifier{Type: "opsgenie"}, "api_key is required"},
		{"teams without url", config.Notifier{Type: "teams"}, "webhook_url is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Name = "n-" + strings.ReplaceAll(tt.name, " ", "-")
			n, err := New(&tt.in, Options{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.Name() != tt.in.Name {
				t.Fatalf("Name() = %q, want %q", n.Name(), tt.in.Name)
			}
		})
	}
	if got := strings.Join(Types(), ","); got != "discord,email,googlechat,mattermost,ntfy,opsgenie,pagerduty,slack,teams,telegram,webhook" {
		t.Fatalf("Types() = %s", got)
	}
}

// The options reach the notifiers: the injected HTTP client carries the
// request (its transport counts it) and the host name appears in the test
// message.
func TestOptionsReachNotifiers(t *testing.T) {
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body.Store(string(b))
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	var calls atomic.Int32
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	n, err := New(&config.Notifier{Name: "ops", Type: "slack", WebhookURL: config.Secret(srv.URL + "/services/x")},
		Options{HTTPClient: hc, Now: notifytest.Now, Agent: "edge-1", Host: "edge-1.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	m := &notify.Message{Items: []notify.Item{{Event: notify.EventTest}}}
	if err := n.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf("injected client used %d times", calls.Load())
	}
	if b, _ := body.Load().(string); !strings.Contains(b, "pulse test notification from edge-1") {
		t.Fatalf("test message %s does not name the host", b)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
