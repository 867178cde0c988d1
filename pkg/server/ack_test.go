package server

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/acklink"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

var ackTestKey = bytes.Repeat([]byte{0x5c}, acklink.MinKeyLen)

// ackFixture has a listen_token set, to show the ack routes do not ask
// for it, and the ack key in force.
func ackFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, `listen_token = "tok-listen"`)
	f.cfg.Agent.AckKey = config.Secret(ackTestKey)
	return f
}

func (f *fixture) status(t *testing.T, id int64) store.Incident {
	t.Helper()
	inc, err := f.st.Incident(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

func postForm(by string) (map[string]string, *strings.Reader) {
	return map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, strings.NewReader(url.Values{"by": {by}}.Encode())
}

func checkAckHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "Content-Type": "text/html; charset=utf-8"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestAckGetShowsAndDoesNotAck(t *testing.T) {
	f := ackFixture(t)
	id := f.incident(t, store.Incident{Check: "db", Type: "tcp", Severity: "P1", State: "crit", Status: store.StatusOpen,
		Message: `<script>alert(1)</script> refused`, OpenedAt: now.Add(-time.Hour)})
	tok := acklink.Sign(ackTestKey, id, now.Add(acklink.TTL))

	for _, m := range []string{"GET", "HEAD"} {
		rec := f.get(t, m, "/ack/"+tok, nil, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s = %d, want 200:\n%s", m, rec.Code, rec.Body)
		}
		checkAckHeaders(t, rec.Header())
	}
	rec := f.get(t, "GET", "/ack/"+tok, nil, nil)
	body := rec.Body.String()
	for _, want := range []string{"db", "P1", "&lt;script&gt;alert(1)&lt;/script&gt; refused", `<form method="post">`, `name="by"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Errorf("message not escaped:\n%s", body)
	}
	if inc := f.status(t, id); inc.Status != store.StatusOpen || inc.AckedBy != "" || inc.PendingSync {
		t.Fatalf("GET changed the incident: status %q, acked_by %q, pending %v", inc.Status, inc.AckedBy, inc.PendingSync)
	}
}

func TestAckPost(t *testing.T) {
	tests := []struct{ by, want string }{
		{"", "link"},
		{"  alice \n smith ", "alice smith"},
		{"eve\x1b[2J\u202egnp", "eve[2Jgnp"},
		{strings.Repeat("ü", 80), strings.Repeat("ü", 64)},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			f := ackFixture(t)
			id := f.incident(t, store.Incident{Check: "api", Type: "tcp", Severity: "P2", State: "crit", Status: store.StatusOpen, OpenedAt: now.Add(-time.Hour)})
			hdr, body := postForm(tt.by)
			rec := f.get(t, "POST", "/ack/"+acklink.Sign(ackTestKey, id, now.Add(time.Minute)), hdr, body)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Acknowledged") {
				t.Fatalf("POST = %d:\n%s", rec.Code, rec.Body)
			}
			checkAckHeaders(t, rec.Header())
			inc := f.status(t, id)
			if inc.Status != store.StatusAcknowledged || inc.AckedBy != tt.want || !inc.AckedAt.Equal(now) || !inc.PendingSync {
				t.Fatalf("incident: status %q, acked_by %q at %v, pending %v; want acknowledged by %q at %v, pending",
					inc.Status, inc.AckedBy, inc.AckedAt, inc.PendingSync, tt.want, now)
			}
			if inc.AckNote != ackNote {
				t.Errorf("ack note = %q, want %q", inc.AckNote, ackNote)
			}

			// A second click changes nothing and says so.
			hdr, body = postForm("mallory")
			rec = f.get(t, "POST", "/ack/"+acklink.Sign(ackTestKey, id, now.Add(time.Minute)), hdr, body)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Already acknowledged") {
				t.Fatalf("second POST = %d:\n%s", rec.Code, rec.Body)
			}
			if inc := f.status(t, id); inc.AckedBy != tt.want {
				t.Fatalf("second POST changed acked_by to %q", inc.AckedBy)
			}
		})
	}
}

func TestAckErrors(t *testing.T) {
	f := ackFixture(t)
	open := f.incident(t, store.Incident{Check: "api", Type: "tcp", Severity: "P1", State: "crit", Status: store.StatusOpen, OpenedAt: now.Add(-time.Hour)})
	resolved := f.incident(t, store.Incident{Check: "db", Type: "tcp", Severity: "P2", State: "crit", Status: store.StatusResolved,
		OpenedAt: now.Add(-2 * time.Hour), ResolvedAt: now.Add(-time.Hour)})
	good := acklink.Sign(ackTestKey, open, now.Add(time.Hour))
	tampered := []byte(good)
	tampered[len(tampered)-1] ^= 'A' ^ 'B'

	tests := []struct {
		name, token string
		code        int
		text        string
	}{
		{"expired", acklink.Sign(ackTestKey, open, now.Add(-time.Second)), http.StatusGone, "Link expired"},
		{"garbage", "garbage", http.StatusBadRequest, "Invalid link"},
		{"tampered", string(tampered), http.StatusBadRequest, "Invalid link"},
		{"wrong key", acklink.Sign(bytes.Repeat([]byte{1}, 32), open, now.Add(time.Hour)), http.StatusBadRequest, "Invalid link"},
		{"unknown incident", acklink.Sign(ackTestKey, 999, now.Add(time.Hour)), http.StatusNotFound, "Unknown incident"},
		{"resolved", acklink.Sign(ackTestKey, resolved, now.Add(time.Hour)), http.StatusOK, "Already resolved"},
	}
	for _, tt := range tests {
		for _, m := range []string{"GET", "POST"} {
			t.Run(tt.name+"/"+m, func(t *testing.T) {
				hdr, body := postForm("x")
				rec := f.get(t, m, "/ack/"+tt.token, hdr, body)
				if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.text) {
					t.Fatalf("%s = %d, want %d with %q:\n%s", m, rec.Code, tt.code, tt.text, rec.Body)
				}
				checkAckHeaders(t, rec.Header())
				if strings.Contains(rec.Body.String(), "<form") {
					t.Errorf("error page offers the form")
				}
			})
		}
	}
	if inc := f.status(t, open); inc.Status != store.StatusOpen {
		t.Fatalf("a bad token acknowledged incident #%d: %q by %q", open, inc.Status, inc.AckedBy)
	}
	if inc := f.status(t, resolved); inc.Status != store.StatusResolved || inc.AckedBy != "" {
		t.Fatalf("resolved incident changed: %q by %q", inc.Status, inc.AckedBy)
	}
}

func TestAckOffWithoutKey(t *testing.T) {
	f := newFixture(t, "")
	id := f.incident(t, store.Incident{Check: "api", Type: "tcp", Severity: "P1", State: "crit", Status: store.StatusOpen, OpenedAt: now})
	hdr, body := postForm("")
	rec := f.get(t, "POST", "/ack/"+acklink.Sign(ackTestKey, id, now.Add(time.Hour)), hdr, body)
	if rec.Code != http.StatusNotFound {
		t.Fatalf("POST without a key = %d, want 404", rec.Code)
	}
	if inc := f.status(t, id); inc.Status != store.StatusOpen {
		t.Fatalf("acknowledged without a key: %q", inc.Status)
	}
}
