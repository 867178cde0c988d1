package checks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/redact"
)

// HTTPClients shares what http checks can share: one keep-alive transport
// per distinct TLS setting (verify with the system roots, verify with a
// ca_file, skip verification), the parsed ca_file pools, and the body
// buffers. The agent keeps one for its life: a ca_file whose contents
// changed gets a new transport when its checks are rebuilt (CADigest). It
// is safe for concurrent use.
type HTTPClients struct {
	mu         sync.Mutex
	transports map[httpTLSKey]*http.Transport
	clients    map[string]*httpClient // by request settings, see client
	caSums     map[string]caStamp     // by ca_file path, see CADigest
	bufs       sync.Pool              // *bytes.Buffer
}

// httpTLSKey tells transports apart: checks with equal keys share one. The
// ca_file's digest is part of it, so a bundle replaced on disk gets a new
// transport at the next reload.
type httpTLSKey struct {
	insecure bool
	caFile   string
	caSum    string
}

// caStamp is a ca_file's digest and the size and time it was read at.
type caStamp struct {
	size int64
	mod  time.Time
	sum  string
}

// CADigest is a digest of the ca_file at path's contents ("" when it cannot
// be read: loading it reports why). A reload compares it, so that a bundle
// rotated on disk takes effect with `systemctl reload` like any other
// change. The file is read again only when its size or time changed, not
// once per check.
func (h *HTTPClients) CADigest(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	h.mu.Lock()
	st, ok := h.caSums[path]
	h.mu.Unlock()
	if ok && st.size == fi.Size() && st.mod.Equal(fi.ModTime()) {
		return st.sum
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	st = caStamp{size: fi.Size(), mod: fi.ModTime(), sum: hex.EncodeToString(sum[:16])}
	h.mu.Lock()
	h.caSums[path] = st
	h.mu.Unlock()
	return st.sum
}

// httpPooledBufMax is the largest body buffer kept for reuse; bigger ones
// (from a check with a large max_body) go to the garbage collector.
const httpPooledBufMax = 4 << 20

// NewHTTPClients returns an empty cache.
func NewHTTPClients() *HTTPClients {
	return &HTTPClients{transports: map[httpTLSKey]*http.Transport{}, clients: map[string]*httpClient{},
		caSums: map[string]caStamp{}}
}

// Len returns how many distinct transports have been built.
func (h *HTTPClients) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.transports)
}

// CloseIdleConnections closes the idle keep-alive connections of every
// transport, e.g. when a reload retires this cache.
func (h *HTTPClients) CloseIdleConnections() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.transports {
		t.CloseIdleConnections()
	}
}

// transport returns the shared transport for key, building it on first use.
func (h *HTTPClients) transport(key httpTLSKey) (*http.Transport, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.transports[key]; ok {
		return t, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: key.insecure}
	if key.caFile != "" {
		pool, err := loadCAFile(key.caFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	t := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second, // the run's context usually ends it sooner
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:   tc,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      0, // no global cap: thousands of checks may share one transport
		// Many checks often share one host, up to max_concurrency of them
		// at once: an idle cap below that makes a busy agent close
		// connections only to dial them again (a fifth of pulse's CPU at
		// 5,000 checks/s on one host with a cap of 64, bench/load).
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	h.transports[key] = t
	return t, nil
}

func (h *HTTPClients) getBuf() *bytes.Buffer {
	if b, ok := h.bufs.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (h *HTTPClients) putBuf(b *bytes.Buffer) {
	if b.Cap() > httpPooledBufMax {
		return
	}
	b.Reset()
	h.bufs.Put(b)
}

// httpCheck is one configured http check: its client (shared by the
// checks with the same request settings) and its precompiled assertions.
// It is kept small because the agent holds one per http check for its
// whole life (docs/BENCHMARKS.md, goal 3, has the memory figures).
type httpCheck struct {
	method  string
	url     string
	body    string // sent only by methods that carry one (payloadMethod)
	client  *httpClient
	clients *HTTPClients
	maxBody int64
	timeout time.Duration
	now     func() time.Time

	status   []config.StatusMatcher // empty: any 2xx
	latency  time.Duration
	more     *httpAsserts // the rarer assertions; nil when none is set
	needBody bool         // some assertion reads the body
}

// httpAsserts are an http check's header, body and certificate assertions.
type httpAsserts struct {
	contains    []byte
	notContains []byte
	re          *regexp.Regexp
	json        []httpJSONExpect
	headers     []httpHeaderExpect
	certExpiry  time.Duration
}

var _ Checker = (*httpCheck)(nil)

// httpJSONExpect is one expect.json entry, its expected value normalised
// to what gjson yields so that comparing costs no conversion per run.
type httpJSONExpect struct {
	path  string
	kind  gjson.Type // Number, String, True/False, or JSON for arrays and tables
	num   float64
	str   string
	value any    // arrays and tables, as gjson's Value() would return them
	shown string // the expected value as messages show it
}

// httpHeaderExpect is one expect.headers entry.
type httpHeaderExpect struct {
	name  string // canonical
	value string
}

// newHTTP builds an http check. Its client and transport are made here,
// once; Run only builds the request.
func newHTTP(c *config.Check, env *Env) (Checker, error) { return newHTTPCheck(c, env) }

// newHTTPCheck is newHTTP with the concrete type, for kinds that reuse the
// request side (a metric with source = "http" sets needBody and calls
// exchange).
func newHTTPCheck(c *config.Check, env *Env) (*httpCheck, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("check %q: url %q: want an absolute http:// or https:// URL", c.Name, redact.URL(c.URL))
	}
	clients := env.HTTP
	if clients == nil {
		clients = NewHTTPClients()
	}
	exp := c.Expected()
	k := &httpCheck{
		method:  strings.ToUpper(c.Method),
		url:     c.URL,
		body:    c.Body,
		clients: clients,
		maxBody: int64(c.MaxBody),
		timeout: c.Timeout.D(),
		now:     env.Now,
		status:  exp.Status,
		latency: exp.Latency.D(),
	}
	if k.method == "" {
		k.method = http.MethodGet
	}
	if !payloadMethod(k.method) {
		k.body = ""
	}
	if k.maxBody <= 0 {
		k.maxBody = config.DefaultMaxBody
	}
	if k.now == nil {
		k.now = time.Now
	}
	m := &httpAsserts{certExpiry: exp.CertExpiry.D()}
	if s := exp.BodyContains; s != "" {
		m.contains = []byte(s)
	}
	if s := exp.BodyNotContains; s != "" {
		m.notContains = []byte(s)
	}
	if exp.BodyRegex != "" {
		if m.re, err = regexp.Compile(exp.BodyRegex); err != nil {
			return nil, fmt.Errorf("check %q: expect.body_regex: %w", c.Name, err)
		}
	}
	for _, path := range slices.Sorted(maps.Keys(exp.JSON)) {
		je, err := httpJSONExpectation(path, exp.JSON[path])
		if err != nil {
			return nil, fmt.Errorf("check %q: expect.json %q: %w", c.Name, path, err)
		}
		m.json = append(m.json, je)
	}
	for _, name := range slices.Sorted(maps.Keys(exp.Headers)) {
		m.headers = append(m.headers, httpHeaderExpect{name: http.CanonicalHeaderKey(name), value: exp.Headers[name]})
	}
	k.needBody = m.contains != nil || m.notContains != nil || m.re != nil || len(m.json) > 0
	if k.needBody || len(m.headers) > 0 || m.certExpiry > 0 {
		k.more = m
	}

	if k.client, err = clients.client(c, k.body != ""); err != nil {
		return nil, fmt.Errorf("check %q: ca_file: %w", c.Name, err)
	}
	return k, nil
}

// httpClient is what the http checks with the same request settings
// share: the client (transport and redirect policy) and the headers every
// request carries. Requests only read them.
type httpClient struct {
	hc     *http.Client
	header http.Header // User-Agent, the configured headers, basic auth
	host   string      // a configured Host header, sent as the request's Host
}

// client returns the client for c's request settings (TLS, redirect
// policy, headers, basic auth, whether a body is sent), shared by every
// check with the same ones, because a client per check costs more heap
// than the check itself (docs/BENCHMARKS.md, goal 3).
//
// Requests are built on net/http directly (docs/DESIGN.md, "One HTTP
// stack"), with the conventions users expect: User-Agent
// "pulse" unless configured; basic_auth wins over an Authorization
// header; a body without a Content-Type is sent as text/plain; a JSON or
// XML Content-Type is also asked for in Accept unless one is set; a Host
// header becomes the request's Host.
func (h *HTTPClients) client(c *config.Check, withBody bool) (*httpClient, error) {
	follow := c.FollowRedirects == nil || *c.FollowRedirects
	tk := httpTLSKey{insecure: c.InsecureSkipVerify, caFile: c.CAFile}
	if tk.insecure {
		tk.caFile = "" // nothing is verified, so the bundle does not matter
	}
	if tk.caFile != "" {
		tk.caSum = h.CADigest(tk.caFile)
	}
	var key strings.Builder // in memory only: it holds secrets
	fmt.Fprintf(&key, "%t\x00%s\x00%s\x00%t\x00%t\x00", tk.insecure, tk.caFile, tk.caSum, follow, withBody)
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		key.WriteString(name + "\x00" + c.Headers[name].Reveal() + "\x00")
	}
	if c.BasicAuth != nil {
		key.WriteString("\x01" + c.BasicAuth.Username + "\x00" + c.BasicAuth.Password.Reveal())
	}
	h.mu.Lock()
	hcl, ok := h.clients[key.String()]
	h.mu.Unlock()
	if ok {
		return hcl, nil
	}

	tr, err := h.transport(tk)
	if err != nil {
		return nil, err
	}
	hcl = &httpClient{hc: &http.Client{Transport: tr}, header: http.Header{}}
	if !follow {
		hcl.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	hd := hcl.header
	hd.Set("User-Agent", "pulse")
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		hd.Set(name, c.Headers[name].Reveal())
	}
	if c.BasicAuth != nil { // net/http's encoding, written into hd
		(&http.Request{Header: hd}).SetBasicAuth(c.BasicAuth.Username, c.BasicAuth.Password.Reveal())
	}
	ct := hd.Get("Content-Type")
	if withBody && ct == "" {
		hd.Set("Content-Type", "text/plain; charset=utf-8")
	}
	if hd.Get("Accept") == "" && ct != "" && httpJSONOrXML(ct) {
		hd.Set("Accept", ct)
	}
	hcl.host = hd.Get("Host")
	h.mu.Lock()
	defer h.mu.Unlock()
	if prev, ok := h.clients[key.String()]; ok {
		return prev, nil // built concurrently: keep one
	}
	h.clients[key.String()] = hcl
	return hcl, nil
}

// payloadMethod reports whether requests with method carry the configured
// body: every method but GET, HEAD and OPTIONS.
func payloadMethod(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// httpJSONOrXML reports whether a Content-Type names JSON or XML.
func httpJSONOrXML(ct string) bool {
	mt := strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	return strings.HasSuffix(mt, "/json") || strings.HasSuffix(mt, "+json") ||
		strings.HasSuffix(mt, "/xml") || strings.HasSuffix(mt, "+xml")
}

// Run sends the request, reads at most max_body bytes of the answer, and
// checks the status, headers, body, certificate and latency.
func (k *httpCheck) Run(ctx context.Context) Result {
	ctx, cancel := withDeadline(ctx, k.timeout)
	defer cancel()
	x, fail := k.exchange(ctx)
	defer k.release(x)
	if fail != nil {
		return *fail
	}
	raw, body, truncated, took := x.resp, x.body, x.truncated, x.took
	perf := x.perf()

	code := raw.StatusCode
	statusText := strconv.Itoa(code)
	if t := http.StatusText(code); t != "" {
		statusText += " " + t
	}
	if !k.statusOK(code) {
		msg := "status " + strconv.Itoa(code) + ", expected " + httpStatusWant(k.status)
		if loc := raw.Header.Get("Location"); loc != "" && code/100 == 3 {
			msg += " (redirect to " + httpClip(loc) + ")"
		}
		return Result{State: Crit, Message: msg, Perf: perf}
	}

	var crits, warns []string
	if m := k.more; m != nil {
		for _, h := range m.headers {
			if p := h.check(raw.Header); p != "" {
				crits = append(crits, p)
			}
		}
		var bodyFails []string
		if k.needBody {
			b := body.Bytes()
			if m.contains != nil && !bytes.Contains(b, m.contains) {
				bodyFails = append(bodyFails, "body does not contain "+httpQuote(string(m.contains)))
			}
			if m.notContains != nil && bytes.Contains(b, m.notContains) {
				bodyFails = append(bodyFails, "body contains "+httpQuote(string(m.notContains)))
			}
			if m.re != nil && !m.re.Match(b) {
				bodyFails = append(bodyFails, "body does not match /"+httpClip(m.re.String())+"/")
			}
			if len(m.json) > 0 {
				bodyFails = append(bodyFails, checkJSON(m.json, b)...)
			}
			if len(bodyFails) > 0 && truncated {
				bodyFails[len(bodyFails)-1] += " (only the first " + httpSize(k.maxBody) + " of the body was read)"
			}
		}
		crits = append(crits, bodyFails...)

		if m.certExpiry > 0 && raw.TLS != nil && len(raw.TLS.PeerCertificates) > 0 {
			switch st, msg := certVerdict(raw.TLS.PeerCertificates[0], k.now(), m.certExpiry, 0); st {
			case Crit:
				crits = append(crits, msg)
			case Warn:
				warns = append(warns, msg)
			}
		}
	}
	if k.latency > 0 && took > k.latency {
		warns = append(warns, probeSlow(took, k.latency))
	}

	res := Result{State: OK, Perf: perf}
	switch {
	case len(crits) > 0:
		res.State = Crit
		res.Message = strings.Join(append(crits, warns...), "; ")
	case len(warns) > 0:
		res.State = Warn
		res.Message = strings.Join(warns, "; ") + " (" + statusText + ")"
	default:
		res.Message = statusText + " in " + probeDur(took)
	}
	return res
}

// httpExchange is one request and the capped body of its answer.
type httpExchange struct {
	resp      *http.Response // body already read and closed
	body      *bytes.Buffer  // the first max_body bytes; nil when no assertion reads them
	size      int64          // bytes read, at most max_body
	truncated bool           // the answer had more than max_body bytes
	took      time.Duration  // request sent to body read
}

// perf is the exchange's "time" and "size" perfdata.
func (x httpExchange) perf() []Perf {
	return []Perf{{Label: "time", Value: x.took.Seconds(), UOM: "s"}, {Label: "size", Value: float64(x.size), UOM: "B"}}
}

// exchange sends the configured request under ctx and reads the answer's
// body (up to max_body). A failure to connect, to get an answer or to read
// the body comes back as the crit Result to report. Call release with the
// exchange when done with its body.
func (k *httpCheck) exchange(ctx context.Context) (httpExchange, *Result) {
	start := time.Now()
	resp, err := k.send(ctx)
	if err != nil {
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		took := time.Since(start)
		return httpExchange{took: took}, &Result{State: Crit, Message: k.method + " " + redact.URL(k.url) + ": " + probeNetReason(ctx, err, took), Perf: probeTimePerf(took)}
	}
	x := httpExchange{resp: resp}
	x.body, x.size, x.truncated, err = k.readBody(x.resp)
	x.took = time.Since(start)
	if err != nil {
		return x, &Result{State: Crit, Message: fmt.Sprintf("%s %s: reading the body after %d bytes: %s", k.method, redact.URL(k.url), x.size, probeNetReason(ctx, err, x.took)), Perf: x.perf()}
	}
	return x, nil
}

// send sends the request. Its headers are the client's shared map: nothing
// on the way writes to a request's Header (the client copies it before it
// adds credentials from the URL or follows a redirect). The URL is parsed
// again per run rather than kept parsed: a url.URL is 144 bytes a check for
// as long as the agent runs, the parse a few hundred short-lived bytes.
func (k *httpCheck) send(ctx context.Context) (*http.Response, error) {
	var body io.Reader
	if k.body != "" {
		body = strings.NewReader(k.body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, k.url, body)
	if err != nil {
		return nil, err
	}
	req.Header = k.client.header
	if k.client.host != "" {
		req.Host = k.client.host
	}
	return k.client.hc.Do(req)
}

// release returns the exchange's body buffer to the pool.
func (k *httpCheck) release(x httpExchange) {
	if x.body != nil {
		k.clients.putBuf(x.body)
	}
}

// readBody reads at most max_body bytes and closes the body, so a huge
// answer costs max_body of memory and the rest is never transferred past
// the socket buffers. A body no assertion reads is counted, not kept.
func (k *httpCheck) readBody(raw *http.Response) (buf *bytes.Buffer, n int64, truncated bool, err error) {
	defer raw.Body.Close()
	// One byte past the cap tells "exactly max_body" from "more".
	lr := io.LimitReader(raw.Body, k.maxBody+1)
	if !k.needBody {
		n, err = io.Copy(io.Discard, lr)
	} else {
		buf = k.clients.getBuf()
		// A known length sizes the buffer once (ReadFrom wants MinRead of
		// room before each read, even the one that only finds EOF);
		// otherwise it grows by doubling up to the cap.
		if cl := raw.ContentLength; cl >= 0 {
			buf.Grow(int(min(cl, k.maxBody)) + 1 + bytes.MinRead)
		}
		n, err = buf.ReadFrom(lr)
	}
	if n > k.maxBody {
		n, truncated = k.maxBody, true
		if buf != nil {
			buf.Truncate(int(k.maxBody))
		}
	}
	return buf, n, truncated, err
}

// statusOK reports whether code is expected (any 2xx when expect.status is unset).
func (k *httpCheck) statusOK(code int) bool {
	if len(k.status) == 0 {
		return code/100 == 2
	}
	for _, m := range k.status {
		if m.Match(code) {
			return true
		}
	}
	return false
}

// checkJSON returns one line per expect.json entry the body does not satisfy.
func checkJSON(json []httpJSONExpect, b []byte) []string {
	var fails []string
	for i := range json {
		je := &json[i]
		r := gjson.GetBytes(b, je.path)
		if je.matches(r) {
			continue
		}
		if !r.Exists() {
			if len(fails) == 0 && !gjson.ValidBytes(b) {
				return []string{"body is not valid JSON, expected " + je.path + " = " + je.shown}
			}
			fails = append(fails, "json "+je.path+": missing, expected "+je.shown)
			continue
		}
		fails = append(fails, "json "+je.path+": expected "+je.shown+", got "+httpClip(r.Raw))
	}
	return fails
}

// matches compares r with the expectation: numbers numerically, booleans
// and strings exactly, arrays and tables structurally.
func (je *httpJSONExpect) matches(r gjson.Result) bool {
	if !r.Exists() {
		return false
	}
	switch je.kind {
	case gjson.Number:
		return r.Type == gjson.Number && r.Num == je.num
	case gjson.String:
		return r.Type == gjson.String && r.Str == je.str
	case gjson.True, gjson.False:
		return r.Type == je.kind
	}
	return (r.IsArray() || r.IsObject()) && reflect.DeepEqual(r.Value(), je.value)
}

// httpJSONExpectation normalises one expect.json value as decoded from TOML.
func httpJSONExpectation(path string, v any) (httpJSONExpect, error) {
	je := httpJSONExpect{path: path}
	switch x := v.(type) {
	case bool:
		je.kind, je.shown = gjson.False, "false"
		if x {
			je.kind, je.shown = gjson.True, "true"
		}
	case string:
		je.kind, je.str, je.shown = gjson.String, x, httpQuote(x)
	case int64:
		je.kind, je.num, je.shown = gjson.Number, float64(x), strconv.FormatInt(x, 10)
	case int:
		je.kind, je.num, je.shown = gjson.Number, float64(x), strconv.Itoa(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return je, fmt.Errorf("%v cannot appear in JSON", x)
		}
		je.kind, je.num, je.shown = gjson.Number, x, strconv.FormatFloat(x, 'g', -1, 64)
	case []any, map[string]any:
		norm, err := httpJSONNormalise(x)
		if err != nil {
			return je, err
		}
		je.kind, je.value, je.shown = gjson.JSON, norm, httpClip(fmt.Sprint(x))
	default:
		return je, fmt.Errorf("unsupported value %v (%T): use a string, number, boolean, array or table", v, v)
	}
	return je, nil
}

// httpJSONNormalise turns a TOML array or table into the shape gjson's
// Value() produces (float64 numbers, []any, map[string]any).
func httpJSONNormalise(v any) (any, error) {
	switch x := v.(type) {
	case bool, string, float64:
		return x, nil
	case int64:
		return float64(x), nil
	case int:
		return float64(x), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := httpJSONNormalise(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for key, e := range x {
			n, err := httpJSONNormalise(e)
			if err != nil {
				return nil, err
			}
			out[key] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value %v (%T)", v, v)
}

// check returns why the response headers h fail the expectation, or "".
// Any one of several values of the header may match.
func (e httpHeaderExpect) check(h http.Header) string {
	vs := h.Values(e.name)
	if len(vs) == 0 {
		return "header " + e.name + " missing, expected " + httpQuote(e.value)
	}
	if slices.Contains(vs, e.value) {
		return ""
	}
	return "header " + e.name + ": expected " + httpQuote(e.value) + ", got " + httpQuote(strings.Join(vs, ", "))
}

// httpStatusWant renders expect.status for messages: "2xx", "200",
// "200 or 204", "200, 204 or 3xx".
func httpStatusWant(ms []config.StatusMatcher) string {
	if len(ms) == 0 {
		return "2xx"
	}
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

// httpClipMax is how much of a seen or expected value a message shows.
const httpClipMax = 64

// httpClip shortens s for a one-line message, on a UTF-8 boundary.
func httpClip(s string) string {
	if len(s) <= httpClipMax {
		return s
	}
	cut := httpClipMax
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

// httpQuote quotes s, clipped, for a message.
func httpQuote(s string) string { return strconv.Quote(httpClip(s)) }

// httpSize renders a byte count as max_body is usually written: "1MiB", "512KiB", "1000B".
func httpSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}
