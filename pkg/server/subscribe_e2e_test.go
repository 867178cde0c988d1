package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/email"
	"github.com/pulse-monitor/pulse/pkg/notify/smtptest"
	"github.com/pulse-monitor/pulse/pkg/notify/subscribers"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// TestSubscriptionEndToEnd: someone subscribes from the status page, the
// opt-in mail reaches a real SMTP server, its link confirms (by POST), a
// public update is fanned out and mailed with the one-click unsubscribe
// header, the one-click POST unsubscribes, and the next update sends
// nothing more.
func TestSubscriptionEndToEnd(t *testing.T) {
	ctx := context.Background()
	f := subFixture(t, "")
	listener := httptest.NewServer(f.srv.Handler())
	defer listener.Close()
	f.cfg.Agent.PublicURL = listener.URL + "/"
	mx := smtptest.Start(t)

	clock := func() time.Time { return now }
	opts := notify.Options{Now: clock, Host: "pulse.test"}
	mailer, err := email.New(email.Config{Name: "team", Host: "127.0.0.1", Port: mx.Port, TLS: email.TLSNone,
		From: "status@example.com", To: []string{"ops@example.com"}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	sender := subscribers.New(subscribers.Options{
		Lookup: func(ctx context.Context, id int64) (subscribers.Subscriber, error) {
			s, err := f.st.Subscriber(ctx, id)
			if errors.Is(err, store.ErrNoSubscriber) {
				return subscribers.Subscriber{}, subscribers.ErrGone
			}
			return subscribers.Subscriber{ID: s.ID, Kind: s.Kind, Address: s.Address, Confirmed: s.Confirmed()}, err
		},
		Mailer: mailer, Key: ackTestKey, PublicURL: f.cfg.Agent.PublicURL, Title: "Example status", Options: opts,
	})
	disp := notify.NewDispatcher(notify.DispatcherOptions{Outbox: f.st, Now: clock, Resolve: sender.Resolve})
	deliver := func() {
		t.Helper()
		if _, err := disp.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	post := func(u string, form url.Values) (int, string) {
		t.Helper()
		resp, err := http.PostForm(u, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// 1. The form.
	if code, body := post(listener.URL+"/subscribe", url.Values{"email": {"ann@example.com"}}); code != http.StatusAccepted {
		t.Fatalf("subscribe: %d\n%s", code, body)
	}
	deliver()
	mails := mx.Wait(1, 5*time.Second)
	if len(mails) != 1 || mails[0].To[0] != "ann@example.com" {
		t.Fatalf("opt-in mail: %+v", mails)
	}
	_, text, _ := mails[0].Bodies(t)
	confirm := listener.URL + "/subscribe/confirm/" + tokenIn(t, text, listener.URL+"/subscribe/confirm/")

	// 2. Fetching the link (a mail scanner) confirms nothing; the button does.
	resp, err := http.Get(confirm)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || f.subscribers(t)[0].Confirmed() {
		t.Fatalf("GET confirm: %d, confirmed %v", resp.StatusCode, f.subscribers(t)[0].Confirmed())
	}
	if code, body := post(confirm, nil); code != 200 || !f.subscribers(t)[0].Confirmed() {
		t.Fatalf("POST confirm: %d\n%s", code, body)
	}

	// 3. A public update reaches the subscriber.
	if _, err := f.st.AddUpdate(ctx, store.Update{At: now, Status: "scheduled", Message: "API <errors> & timeouts", Public: true}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.st.FanOutUpdates(ctx, 10); err != nil || n != 1 {
		t.Fatalf("fan-out: %d %v", n, err)
	}
	deliver()
	mails = mx.Wait(2, 5*time.Second)
	if len(mails) != 2 {
		t.Fatalf("%d mails, want 2", len(mails))
	}
	h, text, html := mails[1].Bodies(t)
	if !strings.Contains(text, "API <errors> & timeouts") || !strings.Contains(html, "API &lt;errors&gt; &amp; timeouts") {
		t.Errorf("update mail:\n%s\n%s", text, html)
	}
	if h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post %q", h.Get("List-Unsubscribe-Post"))
	}
	unsub := strings.TrimSuffix(strings.TrimPrefix(h.Get("List-Unsubscribe"), "<"), ">")
	if !strings.HasPrefix(unsub, listener.URL+"/unsubscribe/") || !strings.Contains(text, unsub) {
		t.Fatalf("List-Unsubscribe %q, text:\n%s", unsub, text)
	}

	// 4. The mail client's one-click unsubscribe.
	if code, body := post(unsub, url.Values{"List-Unsubscribe": {"One-Click"}}); code != 200 {
		t.Fatalf("one-click: %d\n%s", code, body)
	}
	if subs := f.subscribers(t); len(subs) != 0 {
		t.Fatalf("still subscribed: %+v", subs)
	}

	// 5. No more mail.
	if _, err := f.st.AddUpdate(ctx, store.Update{At: now, Status: "scheduled", Message: "fixed", Public: true}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.st.FanOutUpdates(ctx, 10); err != nil || n != 0 {
		t.Fatalf("fan-out after unsubscribe: %d %v", n, err)
	}
	deliver()
	if got := mx.Wait(3, 300*time.Millisecond); len(got) != 2 {
		t.Fatalf("%d mails after unsubscribing, want still 2", len(got))
	}
}

// tokenIn returns the token following prefix in s.
func tokenIn(t *testing.T, s, prefix string) string {
	t.Helper()
	i := strings.Index(s, prefix)
	if i < 0 {
		t.Fatalf("no %q in:\n%s", prefix, s)
	}
	rest := s[i+len(prefix):]
	if end := strings.IndexAny(rest, "\"<> \r\n"); end >= 0 {
		rest = rest[:end]
	}
	return rest
}
