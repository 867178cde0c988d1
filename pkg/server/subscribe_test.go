package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/acklink"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// subFixture has subscriptions on, email through "team", the ack key, and
// a listen_token when token is set.
func subFixture(t *testing.T, token string) *fixture {
	t.Helper()
	extra := ""
	if token != "" {
		extra = `listen_token = "` + token + `"`
	}
	f := newFixture(t, extra)
	f.cfg.Agent.AckKey = config.Secret(ackTestKey)
	f.cfg.Agent.PublicURL = "https://status.example.com"
	f.cfg.Subscriptions = config.Subscriptions{Enabled: true, EmailNotifier: "team", MaxPerHour: 10, SignupPerHour: 3}
	return f
}

func form(email string) (map[string]string, *strings.Reader) {
	return map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, strings.NewReader(url.Values{"email": {email}}.Encode())
}

func (f *fixture) subscribers(t *testing.T) []store.Subscriber {
	t.Helper()
	subs, err := f.st.Subscribers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return subs
}

func (f *fixture) confirmRows(t *testing.T) int {
	t.Helper()
	rows, err := f.st.PendingOutbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.Event == notify.EventSubscriberConfirm {
			n++
		}
	}
	return n
}

func TestStatusPageSubscribeForm(t *testing.T) {
	f := subFixture(t, "")
	rec := f.get(t, "GET", "/", nil, nil)
	body := rec.Body.String()
	if !strings.Contains(body, `<form method="post" action="subscribe">`) || !strings.Contains(body, `name="email"`) {
		t.Errorf("page lacks the subscribe form:\n%s", body)
	}
	// Still self-contained: the form posts to a relative URL (the page's
	// only link, to feed.xml, is relative too).
	for _, bad := range []string{"<script", "http://", "https://", "src=", `action="/`, `href="/`} {
		if strings.Contains(body, bad) {
			t.Errorf("page with the form contains %q", bad)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("CSP %q", csp)
	}
	f2 := newFixture(t, "")
	if body := f2.get(t, "GET", "/", nil, nil).Body.String(); strings.Contains(body, "<form") {
		t.Errorf("form shown with subscriptions off")
	}
}

func TestSignup(t *testing.T) {
	f := subFixture(t, "")
	hdr, b := form("ann@example.com")
	first := f.get(t, "POST", "/subscribe", hdr, b)
	if first.Code != http.StatusAccepted {
		t.Fatalf("POST /subscribe = %d:\n%s", first.Code, first.Body)
	}
	subs := f.subscribers(t)
	if len(subs) != 1 || subs[0].Address != "ann@example.com" || subs[0].Kind != store.SubscriberEmail || subs[0].Confirmed() {
		t.Fatalf("subscribers %+v", subs)
	}
	if n := f.confirmRows(t); n != 1 {
		t.Fatalf("%d opt-in rows, want 1", n)
	}
	// Confirmed or pending, the answer is the same: no enumeration.
	if _, err := f.st.ConfirmSubscriber(context.Background(), subs[0].ID); err != nil {
		t.Fatal(err)
	}
	hdr, b = form("ann@example.com")
	again := f.get(t, "POST", "/subscribe", hdr, b)
	if again.Code != first.Code || again.Body.String() != first.Body.String() {
		t.Errorf("a subscribed address answers differently: %d\n%s", again.Code, again.Body)
	}
	if n := f.confirmRows(t); n != 1 {
		t.Errorf("a confirmed address got an opt-in mail queued (%d rows)", n)
	}
}

func TestSignupBadInput(t *testing.T) {
	f := subFixture(t, "")
	f.cfg.Subscriptions.SignupPerHour = 100
	for _, bad := range []string{"", "not-an-address", "a b@example.com", "Ann <ann@example.com>", "ann@localhost",
		"<script>alert(1)</script>@example.com", "ann@example.com\r\nBcc: x@example.com", "\x1b[31mann@example.com",
		strings.Repeat("a", 250) + "@example.com", "a@b@example.com"} {
		hdr, b := form(bad)
		rec := f.get(t, "POST", "/subscribe", hdr, b)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%q: %d, want 400", bad, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "<script>") || strings.Contains(rec.Body.String(), "\x1b") {
			t.Errorf("%q echoed unescaped", bad)
		}
	}
	rec := f.get(t, "POST", "/subscribe", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, strings.NewReader("%zz"))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("unparsable form: %d", rec.Code)
	}
	if subs := f.subscribers(t); len(subs) != 0 {
		t.Errorf("bad input stored: %+v", subs)
	}
}

func TestSignupRateLimit(t *testing.T) {
	f := subFixture(t, "")
	post := func(addr, ip string) int {
		hdr, b := form(addr)
		req := httptestRequest("POST", "/subscribe", hdr, b)
		req.RemoteAddr = ip + ":4711"
		rec := serve(f, req)
		if rec.Code == http.StatusTooManyRequests && rec.Header().Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
		return rec.Code
	}
	for i := range 3 {
		if c := post("u"+string(rune('a'+i))+"@example.com", "192.0.2.1"); c != http.StatusAccepted {
			t.Fatalf("sign-up %d: %d", i, c)
		}
	}
	if c := post("u4@example.com", "192.0.2.1"); c != http.StatusTooManyRequests {
		t.Fatalf("4th sign-up from one address: %d, want 429", c)
	}
	if c := post("u5@example.com", "192.0.2.2"); c != http.StatusAccepted {
		t.Fatalf("another address: %d, want 202", c)
	}
	if n := len(f.subscribers(t)); n != 4 {
		t.Errorf("%d subscribers, want 4 (the refused one not stored)", n)
	}
}

func TestConfirmLink(t *testing.T) {
	f := subFixture(t, "tok-listen") // the links need no token
	sub, _, err := f.st.AddSubscriber(context.Background(), store.SubscriberEmail, "ann@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	tok := acklink.SignFor(ackTestKey, acklink.Confirm, sub.ID, now.Add(acklink.ConfirmTTL))

	rec := f.get(t, "GET", "/subscribe/confirm/"+tok, nil, nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<form method="post">`) {
		t.Fatalf("GET = %d:\n%s", rec.Code, rec.Body)
	}
	checkAckHeaders(t, rec.Header())
	if f.subscribers(t)[0].Confirmed() {
		t.Fatal("GET confirmed the subscription")
	}
	for name, bad := range map[string]struct {
		tok  string
		code int
	}{
		"unsubscribe token": {acklink.SignFor(ackTestKey, acklink.Unsubscribe, sub.ID, time.Time{}), 400},
		"ack token":         {acklink.Sign(ackTestKey, sub.ID, now.Add(time.Hour)), 400},
		"garbage":           {"abc", 400},
		"expired":           {acklink.SignFor(ackTestKey, acklink.Confirm, sub.ID, now.Add(-time.Second)), 410},
	} {
		if rec := f.get(t, "POST", "/subscribe/confirm/"+bad.tok, nil, nil); rec.Code != bad.code {
			t.Errorf("%s: %d, want %d", name, rec.Code, bad.code)
		}
	}
	if f.subscribers(t)[0].Confirmed() {
		t.Fatal("a bad token confirmed")
	}
	rec = f.get(t, "POST", "/subscribe/confirm/"+tok, nil, nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "ann@example.com") {
		t.Fatalf("POST = %d:\n%s", rec.Code, rec.Body)
	}
	if !f.subscribers(t)[0].Confirmed() {
		t.Fatal("POST did not confirm")
	}
	if _, err := f.st.RemoveSubscriber(context.Background(), sub.ID); err != nil {
		t.Fatal(err)
	}
	if rec := f.get(t, "POST", "/subscribe/confirm/"+tok, nil, nil); rec.Code != 404 {
		t.Errorf("confirm after removal: %d, want 404", rec.Code)
	}
}

func TestUnsubscribeLink(t *testing.T) {
	f := subFixture(t, "tok-listen")
	sub, _, _ := f.st.AddSubscriber(context.Background(), store.SubscriberEmail, "<b>x</b>@example.com", true)
	tok := acklink.SignFor(ackTestKey, acklink.Unsubscribe, sub.ID, time.Time{})
	if rec := f.get(t, "GET", "/unsubscribe/"+tok, nil, nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "<form") {
		t.Fatalf("GET = %d", rec.Code)
	}
	if len(f.subscribers(t)) != 1 {
		t.Fatal("GET unsubscribed")
	}
	if rec := f.get(t, "POST", "/unsubscribe/"+acklink.SignFor(ackTestKey, acklink.Confirm, sub.ID, now.Add(time.Hour)), nil, nil); rec.Code != 400 {
		t.Errorf("confirm token as unsubscribe: %d", rec.Code)
	}
	// RFC 8058 one-click: a POST with this body.
	hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	rec := f.get(t, "POST", "/unsubscribe/"+tok, hdr, strings.NewReader("List-Unsubscribe=One-Click"))
	if rec.Code != 200 {
		t.Fatalf("one-click POST = %d", rec.Code)
	}
	if body := rec.Body.String(); strings.Contains(body, "<b>x</b>") || !strings.Contains(body, "&lt;b&gt;x&lt;/b&gt;@example.com") {
		t.Errorf("address not escaped:\n%s", body)
	}
	if n := len(f.subscribers(t)); n != 0 {
		t.Fatalf("%d subscribers left", n)
	}
	if rec := f.get(t, "POST", "/unsubscribe/"+tok, hdr, strings.NewReader("List-Unsubscribe=One-Click")); rec.Code != 200 {
		t.Errorf("second one-click: %d, want 200", rec.Code)
	}
}

func TestSubscriptionsOff(t *testing.T) {
	f := newFixture(t, `listen_token = "tok"`)
	f.cfg.Agent.AckKey = config.Secret(ackTestKey)
	tok := acklink.SignFor(ackTestKey, acklink.Unsubscribe, 1, time.Time{})
	hdr, b := form("ann@example.com")
	auth := map[string]string{"Authorization": "Bearer tok", "Content-Type": hdr["Content-Type"]}
	for _, c := range []struct{ method, path string }{
		{"POST", "/subscribe"}, {"GET", "/unsubscribe/" + tok}, {"POST", "/subscribe/confirm/" + tok}, {"POST", "/api/v1/subscribers"},
	} {
		if rec := f.get(t, c.method, c.path, auth, b); rec.Code != 404 {
			t.Errorf("%s %s with subscriptions off: %d, want 404", c.method, c.path, rec.Code)
		}
	}
	// On, but no mail server: no email form.
	f.cfg.Subscriptions = config.Subscriptions{Enabled: true, SignupPerHour: 5}
	hdr, b = form("ann@example.com")
	if rec := f.get(t, "POST", "/subscribe", auth, b); rec.Code != 404 {
		t.Errorf("email sign-up without email_notifier: %d", rec.Code)
	}
}

func TestAPIAddWebhook(t *testing.T) {
	f := subFixture(t, "tok-api")
	post := func(hdr map[string]string, body string) (int, map[string]any) {
		rec := f.get(t, "POST", "/api/v1/subscribers", hdr, strings.NewReader(body))
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer not JSON: %q", rec.Body)
		}
		return rec.Code, out
	}
	good := `{"url": "https://hooks.example.com/pulse?k=1"}`
	if c, _ := post(nil, good); c != 401 {
		t.Errorf("no token: %d, want 401", c)
	}
	if c, _ := post(map[string]string{"Authorization": "Bearer nope"}, good); c != 401 {
		t.Errorf("wrong token: %d, want 401", c)
	}
	auth := map[string]string{"Authorization": "Bearer tok-api"}
	for _, bad := range []string{``, `{`, `[]`, `{"url": 5}`, `{"url": ""}`, `{"url": "ftp://x.example.com/"}`,
		`{"url": "/relative"}`, `{"url": "https://"}`, `{"url": "https://x.example.com/", "extra": 1}`,
		`{"url": "https://x.example.com/` + strings.Repeat("a", 3000) + `"}`} {
		if c, out := post(auth, bad); c != 400 || out["error"] == "" {
			t.Errorf("%.40q: %d %v, want 400 with an error", bad, c, out)
		}
	}
	c, out := post(auth, good)
	if c != 201 || out["kind"] != "webhook" || out["address"] != "https://hooks.example.com/pulse?k=1" || out["confirmed"] != true || out["created"] != true {
		t.Fatalf("add: %d %v", c, out)
	}
	if c, out := post(auth, good); c != 200 || out["created"] != false {
		t.Errorf("add again: %d %v, want 200 not created", c, out)
	}
	if subs := f.subscribers(t); len(subs) != 1 || !subs[0].Confirmed() {
		t.Errorf("subscribers %+v", subs)
	}

	// Without a listen_token nobody may add webhooks (SSRF).
	f2 := subFixture(t, "")
	rec := f2.get(t, "POST", "/api/v1/subscribers", nil, strings.NewReader(good))
	if rec.Code != 403 {
		t.Errorf("no listen_token configured: %d, want 403", rec.Code)
	}
}

func httptestRequest(method, target string, hdr map[string]string, body *strings.Reader) *http.Request {
	req := httptest.NewRequest(method, target, body)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return req
}

func serve(f *fixture, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// Subscriber channels share one notifications series: a label per
// subscriber would grow /metrics without bound.
func TestSubscriberMetricsFolded(t *testing.T) {
	f := subFixture(t, "")
	f.m.ObserveNotification("subscriber/5", "sent")
	f.m.ObserveNotification("subscriber/6", "sent")
	f.m.ObserveNotification("team", "sent")
	body := f.get(t, "GET", "/metrics", nil, nil).Body.String()
	for _, want := range []string{`pulse_notifications_total{notifier="subscribers",result="sent"} 2`, `pulse_notifications_total{notifier="team",result="sent"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "subscriber/") {
		t.Errorf("/metrics has a per-subscriber series")
	}
}
