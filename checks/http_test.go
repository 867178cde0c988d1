package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

func yes() *bool { v := true; return &v }
func no() *bool  { v := false; return &v }

// httpCheckFor is an http check of url with the given expectations.
func httpCheckFor(url string, e config.Expect) *config.Check {
	return &config.Check{Name: "web", Type: "http", Expect: &e, HTTPFields: &config.HTTPFields{URL: url}}
}

func TestHTTPStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		if code/100 == 3 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	codes := func(ms ...any) []config.StatusMatcher {
		var out []config.StatusMatcher
		for _, m := range ms {
			var sm config.StatusMatcher
			switch v := m.(type) {
			case int:
				sm.Code = v
			case string:
				sm.Class = int(v[0] - '0')
			}
			out = append(out, sm)
		}
		return out
	}
	tests := []struct {
		name   string
		code   int
		status []config.StatusMatcher
		state  State
		msg    string
	}{
		{"200 is ok by default", 200, nil, OK, "200 OK in "},
		{"204 is in the default 2xx", 204, nil, OK, "204 No Content in "},
		{"503 against the default", 503, nil, Crit, "status 503, expected 2xx"},
		{"503 against 200", 503, codes(200), Crit, "status 503, expected 200"},
		{"204 against 200", 204, codes(200), Crit, "status 204, expected 200"},
		{"class 2xx", 201, codes("2xx"), OK, "201 Created in "},
		{"class 4xx wanted", 404, codes("4xx"), OK, "404 Not Found in "},
		{"one of several", 404, codes(200, 204), Crit, "status 404, expected 200 or 204"},
		{"codes and classes", 500, codes(200, 204, "3xx"), Crit, "status 500, expected 200, 204 or 3xx"},
		{"unfollowed redirect names its target", 302, codes(200), Crit, "status 302, expected 200 (redirect to /elsewhere)"},
		{"unknown code", 299, codes("2xx"), OK, "299 in "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := httpCheckFor(srv.URL+"/?code="+strconv.Itoa(tt.code), config.Expect{Status: tt.status})
			c.FollowRedirects = no()
			res := runKind(t, c, nil, 5*time.Second)
			if res.State != tt.state || !strings.HasPrefix(res.Message, tt.msg) {
				t.Fatalf("got %s %q, want %s starting %q", res.State, res.Message, tt.state, tt.msg)
			}
			if len(res.Perf) != 2 || res.Perf[0].Label != "time" || res.Perf[0].UOM != "s" || res.Perf[1].Label != "size" || res.Perf[1].UOM != "B" {
				t.Errorf("perf = %+v", res.Perf)
			}
			if res.HasValue {
				t.Errorf("http sets no value, got %v", res.Value)
			}
		})
	}
}

func TestHTTPLatency(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(60 * time.Millisecond)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	res := runKind(t, httpCheckFor(srv.URL, config.Expect{Latency: config.Duration(20 * time.Millisecond)}), nil, 5*time.Second)
	if res.State != Warn || !strings.HasPrefix(res.Message, "slow: ") || !strings.HasSuffix(res.Message, " > 20ms (200 OK)") {
		t.Fatalf("got %s %q, want warn \"slow: ...ms > 20ms (200 OK)\"", res.State, res.Message)
	}
	if res.Perf[0].Value < 0.06 {
		t.Errorf("time perf %v s, the handler slept 60ms", res.Perf[0].Value)
	}
	res = runKind(t, httpCheckFor(srv.URL, config.Expect{Latency: config.Duration(5 * time.Second)}), nil, 5*time.Second)
	if res.State != OK {
		t.Fatalf("under the limit: got %s %q", res.State, res.Message)
	}
}

func TestHTTPBodyAssertions(t *testing.T) {
	const doc = `{"status":"up","db":{"connected":true,"pool":8},"version":"1.2","ratio":0.5,"tags":["a","b"],"count":42}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Build", "abc123")
		w.Header().Add("Cache-Control", "no-store")
		w.Header().Add("Cache-Control", "private")
		if r.URL.Path == "/text" {
			io.WriteString(w, "<html>not json</html>")
			return
		}
		io.WriteString(w, doc)
	}))
	defer srv.Close()

	long := strings.Repeat("x", 200)
	tests := []struct {
		name  string
		path  string
		e     config.Expect
		state State
		msg   string
	}{
		{"contains", "/", config.Expect{BodyContains: `"status":"up"`}, OK, "200 OK in "},
		{"does not contain", "/", config.Expect{BodyContains: "healthy"}, Crit, `body does not contain "healthy"`},
		{"long expected value is clipped", "/", config.Expect{BodyContains: long}, Crit, `body does not contain "` + long[:64] + `..."`},
		{"not contains passes", "/", config.Expect{BodyNotContains: "error"}, OK, "200 OK"},
		{"not contains fails", "/", config.Expect{BodyNotContains: "connected"}, Crit, `body contains "connected"`},
		{"regex passes", "/", config.Expect{BodyRegex: `"pool":\d+`}, OK, "200 OK"},
		{"regex fails", "/", config.Expect{BodyRegex: `"pool":\d{3}`}, Crit, `body does not match /"pool":\d{3}/`},
		{"json string, bool, number", "/", config.Expect{JSON: map[string]any{"status": "up", "db.connected": true, "count": int64(42), "ratio": 0.5}}, OK, "200 OK"},
		{"json numbers compare numerically", "/", config.Expect{JSON: map[string]any{"count": 42.0, "db.pool": int64(8)}}, OK, "200 OK"},
		{"json array", "/", config.Expect{JSON: map[string]any{"tags": []any{"a", "b"}}}, OK, "200 OK"},
		{"json table", "/", config.Expect{JSON: map[string]any{"db": map[string]any{"connected": true, "pool": int64(8)}}}, OK, "200 OK"},
		{"json string differs", "/", config.Expect{JSON: map[string]any{"status": "down"}}, Crit, `json status: expected "down", got "up"`},
		{"json bool differs", "/", config.Expect{JSON: map[string]any{"db.connected": false}}, Crit, "json db.connected: expected false, got true"},
		{"json number differs", "/", config.Expect{JSON: map[string]any{"count": int64(41)}}, Crit, "json count: expected 41, got 42"},
		{"json number is not a string", "/", config.Expect{JSON: map[string]any{"version": 1.2}}, Crit, `json version: expected 1.2, got "1.2"`},
		{"json string is not a number", "/", config.Expect{JSON: map[string]any{"count": "42"}}, Crit, `json count: expected "42", got 42`},
		{"json array differs", "/", config.Expect{JSON: map[string]any{"tags": []any{"a"}}}, Crit, `json tags: expected [a], got ["a","b"]`},
		{"json missing path", "/", config.Expect{JSON: map[string]any{"db.replica": true}}, Crit, "json db.replica: missing, expected true"},
		{"json on a non-JSON body", "/text", config.Expect{JSON: map[string]any{"status": "up"}}, Crit, `body is not valid JSON, expected status = "up"`},
		{"several failures in one line", "/", config.Expect{BodyContains: "healthy", JSON: map[string]any{"status": "down"}}, Crit, `body does not contain "healthy"; json status: expected "down", got "up"`},
		{"header matches", "/", config.Expect{Headers: map[string]string{"X-Build": "abc123"}}, OK, "200 OK"},
		{"header names are case-insensitive", "/", config.Expect{Headers: map[string]string{"x-build": "abc123", "content-type": "application/json"}}, OK, "200 OK"},
		{"any value of a repeated header", "/", config.Expect{Headers: map[string]string{"Cache-Control": "private"}}, OK, "200 OK"},
		{"header differs", "/", config.Expect{Headers: map[string]string{"X-Build": "def456"}}, Crit, `header X-Build: expected "def456", got "abc123"`},
		{"header value is exact", "/", config.Expect{Headers: map[string]string{"Content-Type": "application"}}, Crit, `header Content-Type: expected "application", got "application/json"`},
		{"header missing", "/", config.Expect{Headers: map[string]string{"X-Region": "eu"}}, Crit, `header X-Region missing, expected "eu"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runKind(t, httpCheckFor(srv.URL+tt.path, tt.e), nil, 5*time.Second)
			if res.State != tt.state || !strings.HasPrefix(res.Message, tt.msg) {
				t.Fatalf("got %s %q, want %s starting %q", res.State, res.Message, tt.state, tt.msg)
			}
			if size := res.Perf[1].Value; tt.path == "/" && size != float64(len(doc)) {
				t.Errorf("size perf %v, want %d", size, len(doc))
			}
		})
	}
}

func TestHTTPRedirects(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusFound)
			return
		}
		io.WriteString(w, "new place")
	}))
	defer srv.Close()

	tests := []struct {
		name   string
		follow *bool
		status []config.StatusMatcher
		state  State
		msg    string
		paths  string
	}{
		{"followed by default", nil, nil, OK, "200 OK in ", "/old /new"},
		{"followed when asked", yes(), nil, OK, "200 OK in ", "/old /new"},
		{"not followed: 3xx is the answer", no(), nil, Crit, "status 302, expected 2xx (redirect to /new)", "/old"},
		{"not followed and 3xx expected", no(), []config.StatusMatcher{{Class: 3}}, OK, "302 Found in ", "/old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			paths = nil
			mu.Unlock()
			c := httpCheckFor(srv.URL+"/old", config.Expect{Status: tt.status, BodyContains: map[bool]string{true: "new place"}[tt.state == OK && tt.paths != "/old"]})
			c.FollowRedirects = tt.follow
			res := runKind(t, c, nil, 5*time.Second)
			if res.State != tt.state || !strings.HasPrefix(res.Message, tt.msg) {
				t.Fatalf("got %s %q, want %s starting %q", res.State, res.Message, tt.state, tt.msg)
			}
			mu.Lock()
			defer mu.Unlock()
			if got := strings.Join(paths, " "); got != tt.paths {
				t.Errorf("server saw %q, want %q", got, tt.paths)
			}
		})
	}
}

func TestHTTPRequestIsSentAsConfigured(t *testing.T) {
	type seen struct {
		method, path, body, ctype, token, agent string
		user, pass                              string
		auth                                    bool
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s := seen{method: r.Method, path: r.URL.RequestURI(), body: string(b), ctype: r.Header.Get("Content-Type"),
			token: r.Header.Get("X-Api-Token"), agent: r.Header.Get("User-Agent")}
		s.user, s.pass, s.auth = r.BasicAuth()
		got <- s
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()

	c := httpCheckFor(srv.URL+"/orders?dry_run=1", config.Expect{Status: []config.StatusMatcher{{Code: 201}}})
	c.Method = "POST"
	c.Body = `{"sku":"probe"}`
	c.Headers = map[string]config.Secret{"X-Api-Token": "s3cr3t-token", "Content-Type": "application/json", "User-Agent": "pulse-probe/1"}
	c.BasicAuth = &config.BasicAuth{Username: "monitor", Password: "hunter2"}
	res := runKind(t, c, nil, 5*time.Second)
	if res.State != OK || !strings.HasPrefix(res.Message, "201 Created in ") {
		t.Fatalf("got %s %q", res.State, res.Message)
	}
	s := <-got
	want := seen{method: "POST", path: "/orders?dry_run=1", body: `{"sku":"probe"}`, ctype: "application/json",
		token: "s3cr3t-token", agent: "pulse-probe/1", user: "monitor", pass: "hunter2", auth: true}
	if s != want {
		t.Fatalf("server saw %+v\nwant %+v", s, want)
	}

	// HEAD and a default GET carry no body and pulse's own User-Agent.
	head := httpCheckFor(srv.URL+"/", config.Expect{Status: []config.StatusMatcher{{Code: 201}}})
	head.Method = "head"
	if res := runKind(t, head, nil, 5*time.Second); res.State != OK {
		t.Fatalf("HEAD: got %s %q", res.State, res.Message)
	}
	if s := <-got; s.method != "HEAD" || s.body != "" || s.agent != "pulse" || s.auth {
		t.Fatalf("HEAD: server saw %+v", s)
	}
}

// TestHTTPRequestDefaults pins what pulse adds to a request besides the
// configured keys (what resty added before issue 7), and that checks
// sharing a client never see each other's request-time headers.
func TestHTTPRequestDefaults(t *testing.T) {
	type seen struct{ method, body, ctype, accept, host, auth, user string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u, _, _ := r.BasicAuth()
		got <- seen{r.Method, string(b), r.Header.Get("Content-Type"), r.Header.Get("Accept"), r.Host, r.Header.Get("Authorization"), u}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	env := &Env{} // one HTTPClients: equal settings share a client
	tests := []struct {
		name    string
		url     string
		method  string
		body    string
		headers map[string]config.Secret
		basic   *config.BasicAuth
		want    seen
	}{
		{"a body without a Content-Type is text", srv.URL, "PUT", "ping", nil, nil,
			seen{"PUT", "ping", "text/plain; charset=utf-8", "", host, "", ""}},
		{"a JSON Content-Type is also asked for", srv.URL, "", "", map[string]config.Secret{"content-type": "application/json"}, nil,
			seen{"GET", "", "application/json", "application/json", host, "", ""}},
		{"an Accept header is kept", srv.URL, "", "", map[string]config.Secret{"Content-Type": "application/xml", "Accept": "*/*"}, nil,
			seen{"GET", "", "application/xml", "*/*", host, "", ""}},
		{"GET sends no body", srv.URL, "GET", "ignored", nil, nil,
			seen{"GET", "", "", "", host, "", ""}},
		{"a Host header names the virtual host", srv.URL, "", "", map[string]config.Secret{"Host": "status.example.com"}, nil,
			seen{"GET", "", "", "", "status.example.com", "", ""}},
		{"basic_auth wins over an Authorization header", srv.URL, "", "", map[string]config.Secret{"Authorization": "Bearer x"}, &config.BasicAuth{Username: "mon", Password: "pw"},
			seen{"GET", "", "", "", host, "Basic bW9uOnB3", "mon"}},
		{"credentials in the URL", "http://url-user:pw@" + host + "/", "", "", nil, nil,
			seen{"GET", "", "", "", host, "Basic dXJsLXVzZXI6cHc=", "url-user"}},
		{"after them, a plain check sends no credentials", srv.URL, "", "", nil, nil,
			seen{"GET", "", "", "", host, "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := httpCheckFor(tt.url, config.Expect{})
			c.Method, c.Body, c.Headers, c.BasicAuth = tt.method, tt.body, tt.headers, tt.basic
			if res := runKind(t, c, env, 5*time.Second); res.State != OK {
				t.Fatalf("got %s %q", res.State, res.Message)
			}
			if s := <-got; s != tt.want {
				t.Fatalf("server saw %+v\nwant        %+v", s, tt.want)
			}
		})
	}
}

func TestHTTPSecretsStayOutOfMessages(t *testing.T) {
	addr := closedPort(t)
	c := httpCheckFor("http://"+addr+"/", config.Expect{})
	c.Headers = map[string]config.Secret{"Authorization": "Bearer tok-123456"}
	c.BasicAuth = &config.BasicAuth{Username: "u", Password: "pw-987654"}
	res := runKind(t, c, nil, 5*time.Second)
	if res.State != Crit || res.Message != "GET http://"+addr+"/: connection refused" {
		t.Fatalf("got %s %q", res.State, res.Message)
	}
	if strings.Contains(res.Message, "tok-123456") || strings.Contains(res.Message, "pw-987654") {
		t.Fatalf("secret in message %q", res.Message)
	}
}

// streamHandler streams size bytes in chunks and records how many the
// client accepted before it hung up.
func streamHandler(size int, written *atomic.Int64, done chan<- struct{}) http.HandlerFunc {
	chunk := []byte(strings.Repeat("a", 32<<10))
	return func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for sent := 0; sent < size; sent += len(chunk) {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}
}

func TestHTTPBodyIsReadOnlyToMaxBody(t *testing.T) {
	const size = 64 << 20
	tests := []struct {
		name    string
		maxBody config.ByteSize
		e       config.Expect
		state   State
		msg     string
	}{
		{"assertion sees the first max_body bytes", 0, config.Expect{BodyContains: "needle"}, Crit,
			`body does not contain "needle" (only the first 1MiB of the body was read)`},
		{"no assertion: counted, not kept", 0, config.Expect{}, OK, "200 OK in "},
		{"a smaller max_body", 64 << 10, config.Expect{BodyNotContains: "b"}, OK, "200 OK in "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var written atomic.Int64
			done := make(chan struct{}, 1)
			srv := httptest.NewServer(streamHandler(size, &written, done))
			defer srv.Close()
			c := httpCheckFor(srv.URL, tt.e)
			c.MaxBody = tt.maxBody
			res := runKind(t, c, nil, 10*time.Second)
			if res.State != tt.state || !strings.HasPrefix(res.Message, tt.msg) {
				t.Fatalf("got %s %q, want %s starting %q", res.State, res.Message, tt.state, tt.msg)
			}
			want := int64(tt.maxBody)
			if want == 0 {
				want = config.DefaultMaxBody
			}
			if got := res.Perf[1].Value; got != float64(want) {
				t.Errorf("size perf %v, want max_body %d", got, want)
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the handler was still writing 10s after the check returned")
			}
			// What the server got rid of is max_body plus what the kernel's
			// socket buffers absorbed; nowhere near the 64 MiB on offer.
			t.Logf("server wrote %d bytes, message %q", written.Load(), res.Message)
			if n := written.Load(); n >= 16<<20 {
				t.Fatalf("server wrote %d bytes before the client hung up", n)
			}
		})
	}
}

func TestHTTPHugeBodyCostsAboutMaxBodyOfMemory(t *testing.T) {
	var written atomic.Int64
	done := make(chan struct{}, 2)
	srv := httptest.NewServer(streamHandler(64<<20, &written, done))
	defer srv.Close()
	k, err := New(httpCheckFor(srv.URL, config.Expect{BodyContains: "needle"}), &Env{})
	if err != nil {
		t.Fatal(err)
	}
	run := func() {
		if res := Run(context.Background(), "big", k, 10*time.Second, nil); res.State != Crit {
			t.Fatalf("got %s %q", res.State, res.Message)
		}
		<-done
	}
	run() // warms the transport
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	run()
	runtime.ReadMemStats(&after)
	// At most one buffer of max_body when sync.Pool cannot hand the last
	// one back (after a GC; -race also pads that allocation to about
	// twice its size) plus the request and connection: never the 64 MiB
	// on offer, nor the doubling steps of an unsized buffer.
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("a run allocated %d bytes", alloc)
	if alloc > 3*config.DefaultMaxBody {
		t.Fatalf("a run against a 64 MiB body allocated %d bytes", alloc)
	}
}

func TestHTTPMaxBodyBoundary(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "0123456789"+r.URL.Query().Get("extra"))
	}))
	defer srv.Close()
	tests := []struct {
		extra string
		state State
		msg   string
	}{
		{"", OK, "200 OK in "},
		{"X", Crit, `body does not match /9X$/ (only the first 10B of the body was read)`},
	}
	for _, tt := range tests {
		t.Run("extra="+tt.extra, func(t *testing.T) {
			re := "9$"
			if tt.extra != "" {
				re = "9X$"
			}
			c := httpCheckFor(srv.URL+"/?extra="+tt.extra, config.Expect{BodyRegex: re})
			c.MaxBody = 10
			res := runKind(t, c, nil, 5*time.Second)
			if res.State != tt.state || !strings.HasPrefix(res.Message, tt.msg) {
				t.Fatalf("got %s %q, want %s starting %q", res.State, res.Message, tt.state, tt.msg)
			}
			if res.Perf[1].Value != 10 {
				t.Errorf("size %v", res.Perf[1].Value)
			}
		})
	}
}

func TestHTTPTimeoutIsHonoured(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/mid-body" {
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, "first half")
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	const timeout = 300 * time.Millisecond
	for _, tc := range []struct{ path, msg string }{
		{"/before-headers", "GET " + srv.URL + "/before-headers: timed out after 3"},
		{"/mid-body", "GET " + srv.URL + "/mid-body: reading the body after 10 bytes: timed out after 3"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res := runKind(t, httpCheckFor(srv.URL+tc.path, config.Expect{BodyContains: "half"}), nil, timeout)
			if res.State != Crit || !strings.HasPrefix(res.Message, tc.msg) {
				t.Fatalf("got %s %q, want crit starting %q", res.State, res.Message, tc.msg)
			}
			if res.Duration < timeout || res.Duration > timeout+100*time.Millisecond {
				t.Fatalf("returned after %s with a %s timeout", res.Duration, timeout)
			}
		})
	}
}

func TestHTTPConnectionErrors(t *testing.T) {
	addr := closedPort(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Read(make([]byte, 4096)) // the request
				_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
			}()
		}
	}()
	garbage := ln.Addr().String()
	tests := []struct {
		name, url, msg string
	}{
		{"refused", "http://" + addr + "/health", "GET http://" + addr + "/health: connection refused"},
		{"not HTTP", "http://" + garbage + "/", "GET http://" + garbage + "/: malformed HTTP response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runKind(t, httpCheckFor(tt.url, config.Expect{}), nil, 3*time.Second)
			if res.State != Crit || !strings.HasPrefix(res.Message, tt.msg) {
				t.Fatalf("got %s %q, want crit starting %q", res.State, res.Message, tt.msg)
			}
		})
	}
}

// tlsServer serves "ok" over HTTPS with cert.
func tlsServer(t *testing.T, cert tls.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPCertificates(t *testing.T) {
	ca := newTestCA(t)
	day := 24 * time.Hour
	now := time.Now()
	expired := ca.leaf(t, leafSpec{notBefore: now.Add(-90 * day), notAfter: now.Add(-3 * day), dnsNames: []string{"a.example"}})
	tests := []struct {
		name     string
		cert     tls.Certificate
		caFile   string
		insecure bool
		expiry   time.Duration
		state    State
		msg      string
	}{
		{"trusted through ca_file", ca.leaf(t, validFor(90*day)), ca.file, false, 30 * day, OK, "200 OK in "},
		{"expiring within cert_expiry", ca.leaf(t, validFor(3*day)), ca.file, false, 30 * day, Warn,
			"certificate expires in 3d (" + certDate(now.Add(3*day)) + "), within 30d (200 OK)"},
		{"no cert_expiry: expiring soon is fine", ca.leaf(t, validFor(3*day)), ca.file, false, 0, OK, "200 OK in "},
		{"expired, verified", expired, ca.file, false, 0, Crit, "certificate expired 3d ago (" + certDate(now.Add(-3*day)) + ")"},
		{"expired, verification skipped", expired, "", true, 30 * day, Crit, "certificate expired 3d ago (" + certDate(now.Add(-3*day)) + ")"},
		{"private CA without ca_file", ca.leaf(t, validFor(90*day)), "", false, 0, Crit, "certificate signed by unknown authority"},
		{"self-signed", ca.leaf(t, leafSpec{notBefore: now.Add(-day), notAfter: now.Add(90 * day), selfSigned: true}), ca.file, false, 0, Crit,
			"certificate signed by unknown authority (self-signed)"},
		{"untrusted but verification skipped", ca.leaf(t, validFor(90*day)), "", true, 30 * day, OK, "200 OK in "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tlsServer(t, tt.cert)
			c := httpCheckFor(srv.URL+"/", config.Expect{CertExpiry: config.Duration(tt.expiry)})
			c.CAFile, c.InsecureSkipVerify = tt.caFile, tt.insecure
			res := runKind(t, c, nil, 5*time.Second)
			if res.State != tt.state || !strings.Contains(res.Message, tt.msg) {
				t.Fatalf("got %s %q, want %s containing %q", res.State, res.Message, tt.state, tt.msg)
			}
		})
	}
}

func TestHTTPTransportsAreSharedAndConnectionsReused(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("z", 5000))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	ca := newTestCA(t)

	env := &Env{HTTP: NewHTTPClients()}
	var checks []Checker
	for i, c := range []*config.Check{
		{Name: "a", Type: "http", HTTPFields: &config.HTTPFields{URL: srv.URL + "/a"}},
		{Name: "b", Type: "http", Expect: &config.Expect{BodyContains: "zz"}, HTTPFields: &config.HTTPFields{URL: srv.URL + "/b"}},
		{Name: "c", Type: "http", CAFile: ca.file, HTTPFields: &config.HTTPFields{URL: srv.URL + "/c"}},
		{Name: "d", Type: "http", CAFile: ca.file, HTTPFields: &config.HTTPFields{URL: srv.URL + "/d"}},
		{Name: "e", Type: "http", HTTPFields: &config.HTTPFields{URL: srv.URL + "/e", InsecureSkipVerify: true}},
		{Name: "f", Type: "http", CAFile: ca.file, HTTPFields: &config.HTTPFields{URL: srv.URL + "/f", InsecureSkipVerify: true}},
	} {
		k, err := New(c, env)
		if err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
		checks = append(checks, k)
	}
	if env.HTTP == nil || env.HTTP.Len() != 3 {
		t.Fatalf("want 3 shared transports (default, ca_file, insecure), got %v", env.HTTP)
	}
	before := conns.Load()
	for range 5 {
		for _, k := range checks[:2] {
			if res := Run(context.Background(), "a", k, 5*time.Second, nil); res.State != OK {
				t.Fatalf("got %s %q", res.State, res.Message)
			}
		}
	}
	if n := conns.Load() - before; n != 1 {
		t.Errorf("10 sequential runs of two checks opened %d connections, want 1 (keep-alive, shared transport)", n)
	}
	env.HTTP.CloseIdleConnections()
}

func TestHTTPConstructorErrors(t *testing.T) {
	tests := []struct {
		name string
		c    config.Check
		want string
	}{
		{"relative URL", config.Check{Name: "x", Type: "http", HTTPFields: &config.HTTPFields{URL: "/health"}}, "want an absolute http:// or https:// URL"},
		{"other scheme", config.Check{Name: "x", Type: "http", HTTPFields: &config.HTTPFields{URL: "ftp://example.com/"}}, "want an absolute"},
		{"bad regex", config.Check{Name: "x", Type: "http", Expect: &config.Expect{BodyRegex: "("}, HTTPFields: &config.HTTPFields{URL: "http://a/"}}, "expect.body_regex"},
		{"unsupported json value", config.Check{Name: "x", Type: "http", Expect: &config.Expect{JSON: map[string]any{"t": time.Now()}}, HTTPFields: &config.HTTPFields{URL: "http://a/"}}, `expect.json "t": unsupported value`},
		{"missing ca_file", config.Check{Name: "x", Type: "http", CAFile: "/nonexistent/ca.pem", HTTPFields: &config.HTTPFields{URL: "https://a/"}}, "ca_file: read CA bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(&tt.c, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestHTTPJSONExpectationShown(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want string
	}{
		{int64(3), "3"}, {2.5, "2.5"}, {true, "true"}, {"up", `"up"`},
	} {
		je, err := httpJSONExpectation("p", tt.v)
		if err != nil || je.shown != tt.want {
			t.Errorf("%v: shown %q err %v, want %q", tt.v, je.shown, err, tt.want)
		}
	}
	if _, err := httpJSONExpectation("p", []any{fmt.Stringer(nil)}); err == nil {
		t.Error("an array with a nil element was accepted")
	}
}

func BenchmarkHTTPCheck(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"up","db":{"connected":true}}`)
	}))
	defer srv.Close()
	k, err := New(httpCheckFor(srv.URL+"/health", config.Expect{
		BodyContains: "up", JSON: map[string]any{"status": "up", "db.connected": true},
	}), &Env{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := k.Run(ctx); res.State != OK {
			b.Fatalf("got %s %q", res.State, res.Message)
		}
	}
}
