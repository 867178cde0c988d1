package checks

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// closedAddr returns a loopback host:port where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// echoServer answers every request with a JSON object quoting what it
// received (a hostile or careless server), and /redirect with a redirect
// whose Location carries credentials.
func echoServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			w.Header().Set("Location", "http://admin:loc-S3cret-pw@127.0.0.1:1/login?token=loc-S3cret-tok")
			w.WriteHeader(302)
			return
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"auth": r.Header.Get("Authorization"), "key": r.Header.Get("X-Api-Key"),
			"body": string(body), "url": r.URL.String(),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Every check kind whose definition can hold a secret, configured with a
// distinct one in each such field and run so that it fails: no message
// shows any of them (issue 14, item 3).
func TestMessagesShowNoSecret(t *testing.T) {
	echo := echoServer(t)
	echoHostPort := strings.TrimPrefix(echo.URL, "http://")
	closed := closedAddr(t)
	host, port, _ := net.SplitHostPort(closed)
	secrets := []string{
		"url-S3cret-pw", "url-S3cret-tok", "hdr-S3cret-bearer", "hdr-S3cret-key", "basic-S3cret-pw",
		"body-S3cret-pw", "pg-S3cret-pw", "my-S3cret-pw", "kv-S3cret-pw", "env-S3cret-tok",
		"arg-S3cret-pw", "metric-S3cret-pw", "metric-S3cret-tok", "loc-S3cret-pw", "loc-S3cret-tok",
		"mpg-S3cret-pw",
	}
	noFollow := false
	tests := []struct {
		name string
		c    config.Check
	}{
		{"http refused", config.Check{Type: "http", HTTPFields: &config.HTTPFields{
			URL: "http://user:url-S3cret-pw@" + closed + "/health?token=url-S3cret-tok&v=1"}}},
		{"http echoed credentials", config.Check{Type: "http",
			Expect: &config.Expect{JSON: map[string]any{"auth": "x", "key": "x", "body": "x", "url": "x"}},
			HTTPFields: &config.HTTPFields{
				URL: "http://" + echoHostPort + "/api?access_token=url-S3cret-tok", Method: "POST",
				Headers:   map[string]config.Secret{"Authorization": "Bearer hdr-S3cret-bearer", "X-Api-Key": "hdr-S3cret-key"},
				BasicAuth: &config.BasicAuth{Username: "u", Password: "basic-S3cret-pw"},
				Body:      "user=u&password=body-S3cret-pw"}}},
		{"http echoed bearer", config.Check{Type: "http",
			Expect: &config.Expect{JSON: map[string]any{"auth": "x"}},
			HTTPFields: &config.HTTPFields{URL: echo.URL,
				Headers: map[string]config.Secret{"Authorization": "Bearer hdr-S3cret-bearer"}}}},
		{"http redirect with credentials", config.Check{Type: "http", Expect: &config.Expect{Status: []config.StatusMatcher{{Code: 200}}},
			HTTPFields: &config.HTTPFields{URL: echo.URL + "/redirect", FollowRedirects: &noFollow}}},
		{"http invalid url", config.Check{Type: "http", HTTPFields: &config.HTTPFields{
			URL: "ftp://user:url-S3cret-pw@host/?token=url-S3cret-tok"}}},
		{"sql postgres url", config.Check{Type: "sql", KindFields: &config.KindFields{Driver: "postgres", Query: "SELECT 1",
			DSN: config.Secret("postgres://pulse:pg-S3cret-pw@" + closed + "/db?sslmode=disable&connect_timeout=2")}}},
		{"sql postgres key/value", config.Check{Type: "sql", KindFields: &config.KindFields{Driver: "postgres", Query: "SELECT 1",
			DSN: config.Secret("host=" + host + " port=" + port + " user=pulse password=kv-S3cret-pw dbname=db sslmode=disable connect_timeout=2")}}},
		{"sql mysql", config.Check{Type: "sql", KindFields: &config.KindFields{Driver: "mysql", Query: "SELECT 1",
			DSN: config.Secret("pulse:my-S3cret-pw@tcp(" + closed + ")/db?timeout=2s")}}},
		{"command env and args", config.Check{Type: "command", KindFields: &config.KindFields{
			Env:     map[string]string{"API_TOKEN": "env-S3cret-tok"},
			Command: []string{"sh", "-c", `echo "CRITICAL - login as $API_TOKEN with $1 failed"; exit 2`, "sh", "--password=arg-S3cret-pw"}}}},
		{"metric http", config.Check{Type: "metric",
			HTTPFields: &config.HTTPFields{URL: "http://stats:metric-S3cret-pw@" + closed + "/n?api_key=metric-S3cret-tok"},
			KindFields: &config.KindFields{Source: "http", Value: "n"}}},
		{"metric http echo", config.Check{Type: "metric",
			HTTPFields: &config.HTTPFields{URL: echo.URL + "/n?api_key=metric-S3cret-tok",
				Headers: map[string]config.Secret{"X-Api-Key": "hdr-S3cret-key"}},
			KindFields: &config.KindFields{Source: "http", Value: "key"}}},
		{"metric sql", config.Check{Type: "metric", KindFields: &config.KindFields{Source: "sql", Driver: "postgres", Query: "SELECT 1",
			DSN: config.Secret("postgres://pulse:mpg-S3cret-pw@" + closed + "/db?sslmode=disable&connect_timeout=2")}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.Name = "leak-" + strconv.Itoa(i)
			var msg string
			chk, err := New(&c, &Env{SQL: NewSQLPools(nil)})
			if err != nil {
				msg = err.Error()
			} else {
				res := Run(context.Background(), c.Name, chk, 5*time.Second, nil)
				if res.State == OK {
					t.Fatalf("the check passed (%q); it must fail to show its error", res.Message)
				}
				msg = res.Message
			}
			t.Logf("message: %s", msg)
			for _, s := range secrets {
				if strings.Contains(msg, s) {
					t.Errorf("secret %q shown in %q", s, msg)
				}
			}
		})
	}
}

// A panic whose value quotes a secret becomes a crit message without it.
func TestPanicMessageShowsNoSecret(t *testing.T) {
	c := &config.Check{Name: "p", Type: "command", KindFields: &config.KindFields{
		Command: []string{"true"}, Env: map[string]string{"DB_PASSWORD": "env-S3cret-pw"}}}
	sc := scrubberFor(c)
	if sc == nil {
		t.Fatal("no scrubber for a check with a secret env value")
	}
	chk := scrubbed{Checker: CheckerFunc(func(context.Context) Result {
		panic("connect http://u:url-S3cret-pw@h/ with env-S3cret-pw")
	}), s: sc}
	res := Run(context.Background(), "p", chk, time.Second, nil)
	if res.State != Crit || !strings.HasPrefix(res.Message, "check panicked: ") {
		t.Fatalf("got %s %q", res.State, res.Message)
	}
	for _, s := range []string{"url-S3cret-pw", "env-S3cret-pw"} {
		if strings.Contains(res.Message, s) {
			t.Errorf("%q shown in %q", s, res.Message)
		}
	}
}
