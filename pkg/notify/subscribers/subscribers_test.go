package subscribers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/acklink"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/email"
	"github.com/pulse-monitor/pulse/pkg/notify/smtptest"
)

var (
	key = bytes.Repeat([]byte{3}, acklink.MinKeyLen)
	now = time.Date(2026, 11, 25, 10, 12, 0, 0, time.UTC)
)

type fixture struct {
	smtp *smtptest.Server
	subs map[int64]Subscriber
	s    *Sender
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{smtp: smtptest.Start(t), subs: map[int64]Subscriber{}}
	opts := notify.Options{Now: func() time.Time { return now }, Host: "pulse.test"}
	mailer, err := email.New(email.Config{Name: "team", Host: "127.0.0.1", Port: f.smtp.Port, TLS: email.TLSNone,
		From: "status@example.com", To: []string{"ops@example.com"}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.s = New(Options{
		Lookup: func(_ context.Context, id int64) (Subscriber, error) {
			s, ok := f.subs[id]
			if !ok {
				return Subscriber{}, ErrGone
			}
			return s, nil
		},
		Mailer: mailer, Key: key, PublicURL: "https://status.example.com/pulse/", Title: "Example status",
		Options: opts,
	})
	return f
}

func (f *fixture) send(t *testing.T, id int64, it notify.Item) error {
	t.Helper()
	n, ok := f.s.Resolve(notify.SubscriberChannel(id))
	if !ok {
		t.Fatalf("Resolve(subscriber/%d) = false", id)
	}
	if n.Name() != notify.SubscriberChannel(id) {
		t.Fatalf("Name %q", n.Name())
	}
	return n.Send(context.Background(), &notify.Message{SentAt: now, Items: []notify.Item{it}})
}

func update(msg string) notify.Item {
	return notify.Item{Event: notify.EventSubscriberUpdate, At: now,
		Incident: notify.Incident{ID: 7, Key: "update-3", Status: "identified", Message: msg},
		Check:    notify.Check{Name: "api"}}
}

// tokenAfter returns the token following prefix in s.
func tokenAfter(t *testing.T, s, prefix string) string {
	t.Helper()
	i := strings.Index(s, prefix)
	if i < 0 {
		t.Fatalf("no %q in:\n%s", prefix, s)
	}
	rest := s[i+len(prefix):]
	end := strings.IndexAny(rest, "\"<> \r\n")
	if end < 0 {
		end = len(rest)
	}
	return rest[:end]
}

func TestResolve(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"team", "subscriber/", "subscriber/x", "subscriber/0", "subscriber/-1", "subscriber/07", "Subscriber/1"} {
		if _, ok := f.s.Resolve(name); ok {
			t.Errorf("Resolve(%q) = true", name)
		}
	}
}

func TestConfirmMail(t *testing.T) {
	f := newFixture(t)
	f.subs[5] = Subscriber{ID: 5, Kind: KindEmail, Address: "ann@example.com"}
	if err := f.send(t, 5, notify.Item{Event: notify.EventSubscriberConfirm, At: now}); err != nil {
		t.Fatal(err)
	}
	got := f.smtp.Received()
	if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "ann@example.com" || got[0].From != "status@example.com" {
		t.Fatalf("received %+v", got)
	}
	h, text, html := got[0].Bodies(t)
	if s := h.Get("Subject"); s != "Confirm your subscription to Example status" {
		t.Errorf("Subject %q", s)
	}
	const base = "https://status.example.com/pulse"
	ctok := tokenAfter(t, text, base+"/subscribe/confirm/")
	if id, err := acklink.VerifyFor(key, acklink.Confirm, ctok, now.Add(acklink.ConfirmTTL-time.Minute)); err != nil || id != 5 {
		t.Errorf("confirm token: %d %v", id, err)
	}
	if _, err := acklink.VerifyFor(key, acklink.Confirm, ctok, now.Add(acklink.ConfirmTTL)); !errors.Is(err, acklink.ErrExpired) {
		t.Errorf("confirm token after its TTL: %v", err)
	}
	if _, err := acklink.VerifyFor(key, acklink.Unsubscribe, ctok, now); !errors.Is(err, acklink.ErrBadSignature) {
		t.Errorf("confirm token as unsubscribe: %v", err)
	}
	if !strings.Contains(html, `href="`+base+"/subscribe/confirm/"+ctok+`"`) {
		t.Errorf("html lacks the confirm link:\n%s", html)
	}
	checkUnsubscribe(t, h, text, html, 5)
}

func checkUnsubscribe(t *testing.T, h interface{ Get(string) string }, text, html string, id int64) {
	t.Helper()
	const base = "https://status.example.com/pulse/unsubscribe/"
	lu := h.Get("List-Unsubscribe")
	if !strings.HasPrefix(lu, "<"+base) || !strings.HasSuffix(lu, ">") {
		t.Fatalf("List-Unsubscribe %q", lu)
	}
	tok := strings.TrimSuffix(strings.TrimPrefix(lu, "<"+base), ">")
	if got, err := acklink.VerifyFor(key, acklink.Unsubscribe, tok, now.Add(10*365*24*time.Hour)); err != nil || got != id {
		t.Errorf("unsubscribe token: %d %v", got, err)
	}
	if p := h.Get("List-Unsubscribe-Post"); p != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post %q", p)
	}
	if tokenAfter(t, text, base) != tok {
		t.Errorf("text body's unsubscribe link differs from the header's")
	}
	if !strings.Contains(html, `href="`+base+tok+`"`) {
		t.Errorf("html lacks the unsubscribe link")
	}
}

func TestUpdateMailEscapes(t *testing.T) {
	f := newFixture(t)
	f.subs[6] = Subscriber{ID: 6, Kind: KindEmail, Address: "bob@example.com", Confirmed: true}
	msg := "<script>alert(1)</script> & \x1b]0;pwned\x07 done\nsecond line"
	it := update(msg)
	it.Note = "last one this hour"
	if err := f.send(t, 6, it); err != nil {
		t.Fatal(err)
	}
	got := f.smtp.Received()
	if len(got) != 1 {
		t.Fatalf("%d mails", len(got))
	}
	h, text, html := got[0].Bodies(t)
	if s := h.Get("Subject"); s != "[Example status] api: identified" {
		t.Errorf("Subject %q", s)
	}
	if strings.Contains(html, "<script>") || !strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp;") {
		t.Errorf("html does not escape the message:\n%s", html)
	}
	for _, body := range []string{text, html} {
		if strings.ContainsAny(body, "\x1b\x07") {
			t.Errorf("escape sequence in a body:\n%q", body)
		}
		if !strings.Contains(body, `\x1b]0;pwned\x07 done`) || !strings.Contains(body, "second line") ||
			!strings.Contains(body, "last one this hour") || !strings.Contains(body, "https://status.example.com/pulse/") {
			t.Errorf("body lacks the message, note or page link:\n%s", body)
		}
	}
	if !strings.Contains(text, "Status: identified") || !strings.Contains(text, "2026-11-25 10:12 UTC") {
		t.Errorf("text:\n%s", text)
	}
	checkUnsubscribe(t, h, text, html, 6)
}

func TestRefusals(t *testing.T) {
	f := newFixture(t)
	f.subs[1] = Subscriber{ID: 1, Kind: KindEmail, Address: "ann@example.com"} // unconfirmed
	f.subs[2] = Subscriber{ID: 2, Kind: KindWebhook, Address: "http://127.0.0.1:1/x", Confirmed: true}
	for name, tc := range map[string]struct {
		id int64
		it notify.Item
	}{
		"gone":                {9, update("x")},
		"unconfirmed":         {1, update("x")},
		"confirm to webhook":  {2, notify.Item{Event: notify.EventSubscriberConfirm}},
		"unknown email event": {1, notify.Item{Event: "opened"}},
	} {
		err := f.send(t, tc.id, tc.it)
		if err == nil || notify.Retryable(err) {
			t.Errorf("%s: %v, want a permanent failure", name, err)
		}
	}
	if n := len(f.smtp.Received()); n != 0 {
		t.Errorf("%d mails sent", n)
	}
	f.s.o.Mailer = nil
	f.subs[3] = Subscriber{ID: 3, Kind: KindEmail, Address: "c@example.com", Confirmed: true}
	if err := f.send(t, 3, update("x")); err == nil || notify.Retryable(err) || !strings.Contains(err.Error(), "email_notifier") {
		t.Errorf("no mailer: %v", err)
	}
}

func TestWebhook(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	var bodies [][]byte
	var headers []http.Header
	status := http.StatusNoContent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies, headers = append(bodies, b), append(headers, r.Header.Clone())
		st := status
		mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/hook/s3cr3t-token" {
			http.Error(w, "wrong", 404)
			return
		}
		if st == 503 {
			w.Header().Set("Retry-After", "120")
		}
		w.WriteHeader(st)
		io.WriteString(w, "answer quoting /hook/s3cr3t-token")
	}))
	defer srv.Close()
	url := srv.URL + "/hook/s3cr3t-token"
	f.subs[4] = Subscriber{ID: 4, Kind: KindWebhook, Address: url, Confirmed: true}

	if err := f.send(t, 4, update("DB <failover> done")); err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(bodies[0], &p); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"version": 1.0, "event": "incident_update", "incident": 7.0, "check": "api",
		"status": "identified", "message": "DB <failover> done", "at": "2026-11-25T10:12:00Z",
		"page_url": "https://status.example.com/pulse/"}
	unsub, _ := p["unsubscribe_url"].(string)
	const prefix = "https://status.example.com/pulse/unsubscribe/"
	if id, err := acklink.VerifyFor(key, acklink.Unsubscribe, strings.TrimPrefix(unsub, prefix), now); !strings.HasPrefix(unsub, prefix) || err != nil || id != 4 {
		t.Errorf("unsubscribe_url %q: %d %v", unsub, id, err)
	}
	delete(p, "unsubscribe_url")
	if len(p) != len(want) {
		t.Errorf("payload has %d fields, want %d: %s", len(p), len(want), bodies[0])
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("payload %s = %#v, want %#v", k, p[k], v)
		}
	}
	if ct := headers[0].Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if ev := headers[0].Get("X-Pulse-Event"); ev != "incident_update" {
		t.Errorf("X-Pulse-Event %q", ev)
	}

	// A maintenance announcement: no incident, marked so.
	ann := update("upgrade")
	ann.Incident.ID, ann.Check.Name = 0, ""
	if err := f.send(t, 4, ann); err != nil {
		t.Fatal(err)
	}
	var pa map[string]any
	json.Unmarshal(bodies[1], &pa)
	if pa["maintenance"] != true || pa["incident"] != nil || pa["check"] != nil {
		t.Errorf("announcement payload %s", bodies[1])
	}

	for _, tc := range []struct {
		status    int
		retryable bool
	}{{503, true}, {429, true}, {400, false}, {410, false}} {
		mu.Lock()
		status = tc.status
		mu.Unlock()
		err := f.send(t, 4, update("x"))
		if err == nil || notify.Retryable(err) != tc.retryable {
			t.Errorf("answer %d: %v, retryable want %v", tc.status, err, tc.retryable)
			continue
		}
		if tc.status == 503 && notify.RetryAfter(err) != 2*time.Minute {
			t.Errorf("Retry-After: %v", notify.RetryAfter(err))
		}
		if strings.Contains(err.Error(), "s3cr3t-token") {
			t.Errorf("error shows the subscriber's URL token: %v", err)
		}
	}
	// Unreachable: retryable, URL hidden.
	f.subs[8] = Subscriber{ID: 8, Kind: KindWebhook, Address: "http://127.0.0.1:1/hook/s3cr3t-token", Confirmed: true}
	err := f.send(t, 8, update("x"))
	if err == nil || !notify.Retryable(err) || strings.Contains(err.Error(), "s3cr3t-token") {
		t.Errorf("unreachable: %v", err)
	}
	// The transport's *notify.SendError is kept (its class and cause), named
	// by subscriber.
	var se *notify.SendError
	if !errors.As(err, &se) || !strings.HasPrefix(se.Err.Error(), "subscriber/8: ") {
		t.Errorf("unreachable: %#v, want the transport's SendError naming subscriber/8", err)
	}
}
