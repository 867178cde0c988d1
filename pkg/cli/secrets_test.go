package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// lockedBuffer is a bytes.Buffer safe for the agent's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// recorder keeps every request body a notifier sends.
type recorder struct {
	mu     sync.Mutex
	bodies map[string][]string // by path
}

func (r *recorder) add(key, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies[key] = append(r.bodies[key], body)
}

func (r *recorder) all(key string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.bodies[key], "\n")
}

// smtpBackend records the DATA of every message, for the email notifier.
type smtpBackend struct{ r *recorder }

func (b smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return smtpSession(b), nil }

type smtpSession struct{ r *recorder }

func (smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.r.add("email", string(b))
	return err
}
func (smtpSession) Reset()        {}
func (smtpSession) Logout() error { return nil }

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The secrets of TestNoSurfaceShowsSecrets, one per field that can hold one.
var leakSecrets = []string{
	"S3cret-url-pw", "S3cret-url-tok", "S3cret-hdr-bearer", "S3cret-basic-pw", "S3cret-echo-tok",
	"S3cret-body-pw", "S3cret-hdr-key", "S3cret-pg-pw", "S3cret-my-pw", "S3cret-env-tok",
	"S3cret-arg-pw", "S3cret-metric-pw", "S3cret-metric-tok", "S3cret-msql-pw",
	"S3cret-tg-tok", "S3cret-ntfy-tok",
}

// ntfyTopic is a secret everywhere but in what the ntfy server receives:
// the publish request names it.
const ntfyTopic = "S3cret-ntfy-topic"

// Every check kind whose definition can hold a secret is configured with a
// distinct one in each such field (URL userinfo and query token, headers,
// basic_auth, body, DSN password, command env and arguments) and fails, so
// that its message carries an error. No surface shows any secret: `pulse
// check` output, the agent's debug log, the SQLite files (results'
// messages, incidents and their timeline, outbox), /api/v1/status and
// /api/v1/incidents, `status --json`, `incidents`, and what PagerDuty,
// Slack, the webhook, email, Telegram and ntfy receive (issue 14, item 3).
func TestNoSurfaceShowsSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent for a few seconds")
	}
	rec := &recorder{bodies: map[string][]string{}}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch {
		case strings.HasSuffix(r.URL.Path, "/sendMessage"):
			// The bot token is in the path: the key must not carry it.
			rec.add("telegram", string(b))
			io.WriteString(w, `{"ok":true,"result":{"message_id":1}}`)
			return
		case r.URL.Path == "/ntfy/":
			rec.add("ntfy", string(b))
			io.WriteString(w, `{"id":"x","event":"message"}`)
			return
		}
		rec.add(strings.Trim(r.URL.Path, "/"), string(b))
		w.WriteHeader(202)
		io.WriteString(w, `{"status":"success","message":"Event processed"}`)
	}))
	defer recv.Close()
	// A careless service that quotes the request back in its JSON answer.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, `{"key":%q,"body":%q,"url":%q}`, r.Header.Get("X-Api-Key"), b, r.URL.String())
	}))
	defer echo.Close()
	srv := smtp.NewServer(smtpBackend{rec})
	srv.Domain = "mx.test"
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(sl) }()
	defer srv.Close()
	smtpPort := sl.Addr().(*net.TCPAddr).Port

	closed, listen := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "pulse.toml")
	cfg := fmt.Sprintf(`[agent]
name = "leak"
database = "pulse.db"
listen = %[1]q

[defaults]
interval = "1s"
timeout = "3s"
severity = "P1"
fail_after = 1

[[check]]
name = "web"
type = "http"
url = "http://user:S3cret-url-pw@%[2]s/health?token=S3cret-url-tok&v=1"
headers = { Authorization = "Bearer S3cret-hdr-bearer" }
basic_auth = { username = "u", password = "S3cret-basic-pw" }

[[check]]
name = "echo"
type = "http"
url = "%[3]s/api?access_token=S3cret-echo-tok"
method = "POST"
body = "user=u&password=S3cret-body-pw"
headers = { X-Api-Key = "S3cret-hdr-key" }
  [check.expect]
  json = { key = "x", body = "x", url = "x" }

[[check]]
name = "pg"
type = "sql"
driver = "postgres"
dsn = "postgres://pulse:S3cret-pg-pw@%[2]s/db?sslmode=disable&connect_timeout=2"
query = "SELECT 1"

[[check]]
name = "my"
type = "sql"
driver = "mysql"
dsn = "pulse:S3cret-my-pw@tcp(%[2]s)/db?timeout=2s"
query = "SELECT 1"

[[check]]
name = "plugin"
type = "command"
command = ["sh", "-c", "echo \"CRITICAL - login as $API_TOKEN with $1 failed\"; exit 2", "sh", "--password=S3cret-arg-pw"]
env = { API_TOKEN = "S3cret-env-tok" }

[[check]]
name = "signups"
type = "metric"
source = "http"
url = "http://stats:S3cret-metric-pw@%[2]s/n?api_key=S3cret-metric-tok"
value = "n"

[[check]]
name = "orders"
type = "metric"
source = "sql"
driver = "postgres"
dsn = "host=127.0.0.1 port=%[4]s user=pulse password=S3cret-msql-pw dbname=db sslmode=disable connect_timeout=2"
query = "SELECT 1"

[[check]]
name = "port"
type = "tcp"
address = %[2]q

[[notifier]]
name = "pd"
type = "pagerduty"
routing_key = "R0utingKey0123456789abcdef012345"
url = "%[5]s/pd"

[[notifier]]
name = "slack"
type = "slack"
webhook_url = "%[5]s/slack"

[[notifier]]
name = "hook"
type = "webhook"
url = "%[5]s/hook"

[[notifier]]
name = "mail"
type = "email"
host = "127.0.0.1"
port = %[6]d
tls = "none"
from = "pulse@example.com"
to = ["ops@example.com"]

[[notifier]]
name = "telegram"
type = "telegram"
bot_token = "123:S3cret-tg-tok"
chat_id = "-100"
api_url = "%[5]s/tg"

[[notifier]]
name = "ntfy"
type = "ntfy"
server = "%[5]s/ntfy"
topic = "%[7]s"
token = "S3cret-ntfy-tok"

[escalation.P1]
notify = ["pd", "slack", "hook", "mail", "telegram", "ntfy"]
within = "0s"
`, listen, closed, echo.URL, strings.Split(closed, ":")[1], recv.URL, smtpPort, ntfyTopic)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	names := []string{"web", "echo", "pg", "my", "plugin", "signups", "orders", "port"}

	// pulse ARGS..., in process: its stdout and stderr.
	pulse := func(args ...string) string {
		var out, errb lockedBuffer
		s := &IO{Out: &out, Err: &errb, In: strings.NewReader(""), NoColor: true, Getenv: func(string) (string, bool) { return "", false }}
		Execute(context.Background(), s, append([]string{"--config", cfgPath}, args...))
		return out.String() + errb.String()
	}
	surfaces := map[string]string{}
	surfaces["pulse check"] = pulse("--log-level", "debug", "check")
	surfaces["pulse validate"] = pulse("validate")

	var agentOut, agentErr lockedBuffer
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := &IO{Out: &agentOut, Err: &agentErr, In: strings.NewReader(""), NoColor: true, Getenv: func(string) (string, bool) { return "", false }}
		Execute(ctx, s, []string{"--config", cfgPath, "--log-level", "debug", "run"})
	}()
	defer func() { stop(); <-done }()

	// Until every receiver has heard of every check's incident.
	deadline := time.Now().Add(30 * time.Second)
	for {
		missing := ""
		for _, key := range []string{"pd", "slack", "hook", "email", "telegram", "ntfy"} {
			got := rec.all(key)
			for _, n := range names {
				if !strings.Contains(got, n) {
					missing += " " + key + ":" + n
				}
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not notified within 30s:%s\nagent log:\n%s", missing, agentErr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + listen + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	surfaces["/api/v1/status"] = get("/api/v1/status")
	surfaces["/api/v1/incidents"] = get("/api/v1/incidents")
	surfaces["status page"] = get("/")
	surfaces["pulse status --json"] = pulse("status", "--json")
	surfaces["pulse status"] = pulse("status")
	surfaces["pulse incidents"] = pulse("incidents")
	stop()
	<-done
	surfaces["agent log"] = agentOut.String() + agentErr.String()
	for _, key := range []string{"pd", "slack", "hook", "email", "telegram", "ntfy"} {
		surfaces["notifier "+key] = rec.all(key)
	}
	dbFiles, _ := filepath.Glob(filepath.Join(dir, "pulse.db*"))
	for _, f := range dbFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		surfaces[filepath.Base(f)] = string(b)
	}

	// The surfaces must show the checks' failures, or this test proves nothing.
	for _, s := range []string{"pulse check", "/api/v1/incidents", "pulse status --json", "notifier pd", "notifier hook"} {
		if !strings.Contains(surfaces[s], "xxxxx") && !strings.Contains(surfaces[s], "<secret>") {
			t.Errorf("%s shows no redacted credential: the messages never reached it:\n%s", s, surfaces[s])
		}
	}
	for name, text := range surfaces {
		if i := strings.Index(text, ntfyTopic); i >= 0 && name != "notifier ntfy" {
			t.Errorf("%s shows the ntfy topic: ...%s...", name, text[max(0, i-120):min(len(text), i+40)])
		}
		for _, sec := range leakSecrets {
			if i := strings.Index(text, sec); i >= 0 {
				t.Errorf("%s shows %q: ...%s...", name, sec, text[max(0, i-120):min(len(text), i+40)])
			}
		}
	}
}
