package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pulse-monitor/pulse/pkg/alert"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"99999999999", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ParseRetryAfter(tt.in, now); got != tt.want {
				t.Fatalf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestResponseError(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	h := http.Header{"Retry-After": {"7"}}
	tests := []struct {
		status     int
		retryable  bool
		retryAfter time.Duration
	}{
		{503, true, 7 * time.Second},
		{500, true, 7 * time.Second},
		{429, true, 7 * time.Second},
		{400, false, 0},
		{404, false, 0},
		{301, false, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			e := ResponseError(tt.status, h, []byte("  token abc123secret rejected \n"), now, "abc123secret")
			if e.Retryable != tt.retryable || e.RetryAfter != tt.retryAfter || e.Status != tt.status {
				t.Fatalf("%+v", e)
			}
			if e.Answer != "token <secret> rejected" {
				t.Fatalf("answer %q", e.Answer)
			}
		})
	}
	// The secret is removed before the answer is trimmed, so a secret
	// straddling the cut cannot leave half of itself behind.
	long := strings.Repeat("x", 505) + "abc123secret"
	if e := ResponseError(400, nil, []byte(long), now, "abc123secret"); strings.Contains(e.Answer, "abc1") {
		t.Fatalf("trimmed answer keeps part of the secret: %q", e.Answer)
	}
}

func TestTransportError(t *testing.T) {
	secret := "https://hooks.example.com/services/T/B/s3cr3t"
	uerr := &url.Error{Op: "Post", URL: secret, Err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")}
	e := TransportError(uerr, secret)
	if !e.Retryable || strings.Contains(e.Error(), "s3cr3t") {
		t.Fatalf("%v", e)
	}
	var ue *url.Error
	if errors.As(e, &ue) {
		t.Fatal("the url.Error (and its URL) is still in the chain")
	}
	if e := TransportError(fmt.Errorf("post: %w", context.DeadlineExceeded)); !errors.Is(e, context.DeadlineExceeded) {
		t.Fatal("deadline lost")
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 10, "abcdefghij"},
		{"abcdefghijk", 10, "abcdefg…"},
		{"ééééé", 8, "éé…"}, // 10 bytes; cut at 5 falls inside a rune
		{"abc", 2, ""},
	}
	for _, tt := range tests {
		got := Truncate(tt.in, tt.max)
		if got != tt.want || len(got) > tt.max || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestTallyAndSort(t *testing.T) {
	items := []Item{
		{Event: alert.DeliverResolved, Incident: Incident{Severity: "P1"}},
		{Event: alert.DeliverOpened, Incident: Incident{Severity: "P3"}},
		{Event: alert.DeliverOpened, Incident: Incident{Severity: "P2"}},
		{Event: alert.DeliverOpened, Incident: Incident{Severity: "P2"}},
		{Event: alert.DeliverAcknowledged, Incident: Incident{Severity: "P1"}},
	}
	if got := Tally(items); got != "2 P2 OPEN, 1 P3 OPEN, 1 ACK, 1 RESOLVED" {
		t.Fatalf("Tally = %q", got)
	}
	var order []string
	for _, it := range SortItems(items) {
		order = append(order, it.Incident.Severity+" "+it.Event)
	}
	if got := strings.Join(order, ", "); got != "P2 opened, P2 opened, P3 opened, P1 acknowledged, P1 resolved" {
		t.Fatalf("SortItems = %s", got)
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("key abcdef and abc", "abc", "abcdef", ""); got != "key <secret> and <secret>" {
		t.Fatalf("Redact = %q", got)
	}
}

func TestComplete(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := &Message{Items: []Item{{Event: EventTest}}}
	c := Options{Host: "h1", Now: func() time.Time { return at }}.Complete(m)
	if c.Source != "h1" || c.Agent != "h1" || !c.SentAt.Equal(at) || m.Source != "" {
		t.Fatalf("Complete = %+v (original %+v)", c, m)
	}
	if TestText(c) != "pulse test notification from h1" {
		t.Fatalf("TestText = %q", TestText(c))
	}
}
