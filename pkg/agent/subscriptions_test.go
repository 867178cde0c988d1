package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/store/storetest"
)

// A public update reaches a webhook subscriber through the fan-out and the
// dispatcher's resolver; a private one does not.
func TestFanOutToWebhookSubscriber(t *testing.T) {
	payloads := make(chan []byte, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		payloads <- b
	}))
	defer recv.Close()
	keyFile := filepath.Join(t.TempDir(), "pulse.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, fmt.Sprintf(`[agent]
name = "subs"
database = "pulse.db"
listen = "127.0.0.1:9108" # not bound: New does not listen
public_url = "https://status.example.com/"
secret_file = %q
[subscriptions]
enabled = true
`, keyFile))
	a, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.store.Start(ctx)

	if _, _, err := a.store.AddSubscriber(ctx, store.SubscriberWebhook, recv.URL+"/hook", true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.fanOut(ctx); err != nil { // starts the cursor
		t.Fatal(err)
	}
	now := time.Now()
	a.store.AddUpdate(ctx, store.Update{At: now, Status: "scheduled", Message: "internal", Public: false})
	if _, err := a.store.AddUpdate(ctx, store.Update{At: now, Status: "scheduled", Message: "we are on it", Public: true}); err != nil {
		t.Fatal(err)
	}
	if n, err := a.fanOut(ctx); err != nil || n != 1 {
		t.Fatalf("fanOut: %d %v, want 1", n, err)
	}
	if _, err := a.inc.disp.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-payloads:
		var p struct{ Event, Status, Message, PageURL string }
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		json.Unmarshal(b, &raw)
		if p.Event != "incident_update" || p.Status != "scheduled" || p.Message != "we are on it" ||
			raw["page_url"] != "https://status.example.com/" {
			t.Errorf("payload %s", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook")
	}
	select {
	case b := <-payloads:
		t.Errorf("a second payload: %s", b)
	default:
	}
	if n, _ := a.store.OutboxPending(ctx); n != 0 {
		t.Errorf("%d rows still pending", n)
	}
}

// On a cluster, subscriber channels are the maintainer's: rows another
// agent fans out wake it (the outbox notification "subscriber/") and it
// sends them, though no channel lease names them.
func TestClusterMaintainerSendsSubscriberRows(t *testing.T) {
	target := storetest.PostgresURL(t)
	got := make(chan []byte, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
	}))
	defer recv.Close()
	keyFile := filepath.Join(t.TempDir(), "pulse.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, fmt.Sprintf(`[agent]
name = "maint"
store = %q
listen = "127.0.0.1:9108" # not bound
public_url = "https://status.example.com/"
secret_file = %q
[[check]]
name = "api"
type = "tcp"
address = "127.0.0.1:1"
interval = "1h"
[subscriptions]
enabled = true
`, target, keyFile))
	a, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if a.cl == nil {
		t.Fatal("agent on PostgreSQL is not clustered")
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.store.Start(ctx)
	memberDone, incDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(memberDone); a.runMember(ctx) }()
	go func() { defer close(incDone); a.inc.run(ctx) }()
	defer func() { cancel(); <-memberDone; <-incDone; a.close() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, ok := a.cl.Maintainer(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("agent is not the maintainer after 10s")
		}
	}

	// Another process: a subscriber, a public update, its fan-out.
	other, err := store.Open(target, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, _, err := other.AddSubscriber(ctx, store.SubscriberWebhook, recv.URL+"/hook", true); err != nil {
		t.Fatal(err)
	}
	if _, err := other.AddUpdate(ctx, store.Update{At: time.Now(), Status: "scheduled", Message: "cluster", Public: true}); err != nil {
		t.Fatal(err)
	}
	if n, err := other.FanOutUpdates(ctx, 10); err != nil || n != 1 {
		t.Fatalf("FanOutUpdates: %d %v", n, err)
	}
	select {
	case b := <-got:
		if !bytes.Contains(b, []byte(`"message":"cluster"`)) {
			t.Errorf("payload %s", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the maintainer did not send the subscriber's row within 5s")
	}
}

// Agents sharing a database must agree on [subscriptions] (the maintainer
// fans out by its own); a config without it hashes as before.
func TestConfigHashSubscriptions(t *testing.T) {
	base := loadConfig(t, "[agent]\nname = \"h\"\ndatabase = \"pulse.db\"\n")
	off := *base
	off.Subscriptions.MaxPerHour = 99 // not enabled: ignored
	on := *base
	on.Subscriptions.Enabled = true
	on2 := on
	on2.Subscriptions.MaxPerHour = 3
	h := ConfigHash(base)
	if ConfigHash(&off) != h {
		t.Error("a disabled [subscriptions] changed the hash")
	}
	if ConfigHash(&on) == h || ConfigHash(&on2) == ConfigHash(&on) {
		t.Error("enabled subscriptions, or their limits, do not change the hash")
	}
}
