package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// metricMaxBody caps what an http metric reads when max_body is unset.
const metricMaxBody = 1 << 20

// metricScheduledTolerance is how far from "compare ago" a baseline may lie
// for checks that run on a cron schedule rather than an interval.
const metricScheduledTolerance = 5 * time.Minute

// metricCheck is the metric kind: a business number read from SQL or from
// JSON over HTTP, judged by thresholds on the value and, with compare, by
// its drop against the value recorded compare earlier.
type metricCheck struct {
	name    string
	fetch   func(ctx context.Context) sqlOutcome
	warn    config.Threshold
	crit    config.Threshold
	latency time.Duration

	compare    time.Duration
	tolerance  time.Duration
	warnDrop   float64
	critDrop   float64
	history    History
	now        func() time.Time
	loc        *time.Location
	compareStr string
}

var _ Checker = (*metricCheck)(nil)

func newMetric(c *config.Check, env *Env) (Checker, error) {
	k := &metricCheck{
		name:     c.Name,
		warn:     c.WarnIf,
		crit:     c.CritIf,
		latency:  c.Expected().Latency.D(),
		compare:  c.Compare.D(),
		warnDrop: c.WarnIfDrop,
		critDrop: c.CritIfDrop,
		history:  env.History,
		now:      env.Now,
		loc:      c.Location,
	}
	if k.loc == nil {
		k.loc = time.UTC
	}
	switch c.Source {
	case "sql":
		src, err := newSQLSource(c, env)
		if err != nil {
			return nil, err
		}
		k.fetch = src.fetch
	case "http":
		src, err := newMetricHTTP(c, env)
		if err != nil {
			return nil, err
		}
		k.fetch = src.fetch
	default:
		return nil, fmt.Errorf("check %q: unknown source %q (use \"sql\" or \"http\")", c.Name, c.Source)
	}
	if k.warnDrop < 0 || k.critDrop < 0 {
		return nil, fmt.Errorf("check %q: warn_if_drop and crit_if_drop are percentages above 0", c.Name)
	}
	if k.compare == 0 && (k.warnDrop > 0 || k.critDrop > 0) {
		return nil, fmt.Errorf("check %q: warn_if_drop / crit_if_drop need compare (e.g. compare = \"7d\")", c.Name)
	}
	k.tolerance = c.Interval.D()
	if k.tolerance <= 0 {
		k.tolerance = metricScheduledTolerance
	}
	k.compareStr = config.Duration(k.compare).String()
	return k, nil
}

// Run reads the number once and judges it.
func (k *metricCheck) Run(ctx context.Context) Result {
	now := k.now()
	o := k.fetch(ctx)
	res := Result{Duration: o.Took, Perf: []Perf{{Label: "time", Value: o.Took.Seconds(), UOM: "s"}}}
	if o.State != OK {
		res.State, res.Message = o.State, o.Message
		return res
	}
	v := o.Value
	res.SetValue(v)
	st, desc := thresholdState(k.warn, k.crit, v)
	var b strings.Builder
	b.WriteString(k.name)
	b.WriteByte(' ')
	b.WriteString(desc)
	if k.compare > 0 {
		dst, dmsg, drop, ok := k.judgeDrop(ctx, now, v)
		st = Worse(st, dst)
		b.WriteString(", ")
		b.WriteString(dmsg)
		if ok {
			res.Perf = append(res.Perf, Perf{Label: "drop", Value: drop, UOM: "%"})
		}
	}
	if k.latency > 0 && o.Took > k.latency {
		st = Worse(st, Warn)
		fmt.Fprintf(&b, " (read in %s, slower than %s)", sqlShortDur(o.Took), sqlShortDur(k.latency))
	}
	res.State, res.Message = st, b.String()
	return res
}

// judgeDrop compares v with the value recorded compare before now.
func (k *metricCheck) judgeDrop(ctx context.Context, now time.Time, v float64) (st State, msg string, drop float64, ok bool) {
	if k.history == nil {
		return Unknown, "no history store (baselines need `pulse run`)", 0, false
	}
	at := now.Add(-k.compare)
	base, found, err := k.history.ValueNear(ctx, k.name, at, k.tolerance)
	if err != nil {
		return Unknown, "cannot read the baseline: " + err.Error(), 0, false
	}
	if !found {
		return Unknown, "no baseline yet (no value recorded near " + at.In(k.loc).Format("2006-01-02 15:04") + ")", 0, false
	}
	ago := " " + k.compareStr + " ago"
	if base == 0 {
		if v == 0 {
			return OK, "unchanged from 0" + ago, 0, true
		}
		return Unknown, "baseline is 0" + ago + ", no drop to compute", 0, false
	}
	// Multiplying first keeps whole percentages exact: a 30% drop meets
	// crit_if_drop = 30.
	drop = (base - v) * 100 / math.Abs(base)
	switch {
	case drop > 0:
		msg = "down " + strconv.FormatFloat(drop, 'f', 1, 64) + "% from " + metricNumber(base) + ago
	case drop < 0:
		msg = "up " + strconv.FormatFloat(-drop, 'f', 1, 64) + "% from " + metricNumber(base) + ago
	default:
		msg = "unchanged from " + metricNumber(base) + ago
	}
	switch {
	case k.critDrop > 0 && drop >= k.critDrop:
		return Crit, msg + " (crit_if_drop " + metricNumber(k.critDrop) + "%)", drop, true
	case k.warnDrop > 0 && drop >= k.warnDrop:
		return Warn, msg + " (warn_if_drop " + metricNumber(k.warnDrop) + "%)", drop, true
	}
	return OK, msg, drop, true
}

// metricHTTP reads a number from a JSON response.
type metricHTTP struct {
	client  *http.Client
	method  string
	url     string
	headers http.Header
	host    string
	body    string
	basic   *config.BasicAuth
	status  []config.StatusMatcher
	path    string
	maxBody int64
	now     func() time.Time
}

func newMetricHTTP(c *config.Check, env *Env) (*metricHTTP, error) {
	if c.URL == "" {
		return nil, fmt.Errorf("check %q: url is empty", c.Name)
	}
	if strings.TrimSpace(c.Value) == "" {
		return nil, fmt.Errorf("check %q: value (a gjson path into the response) is empty", c.Name)
	}
	method := strings.ToUpper(c.Method)
	if method == "" {
		method = http.MethodGet
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 1
	if c.InsecureSkipVerify || c.CAFile != "" {
		tc := &tls.Config{InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // operator's explicit choice
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("check %q: read ca_file: %w", c.Name, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("check %q: ca_file %s holds no PEM certificate", c.Name, c.CAFile)
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	client := &http.Client{Transport: tr}
	if c.FollowRedirects != nil && !*c.FollowRedirects {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	h := make(http.Header, len(c.Headers)+2)
	h.Set("Accept", "application/json")
	h.Set("User-Agent", "pulse")
	host := ""
	for name, v := range c.Headers {
		if strings.EqualFold(name, "Host") {
			host = v.Reveal()
			continue
		}
		h.Set(name, v.Reveal())
	}
	maxBody := int64(c.MaxBody)
	if maxBody <= 0 {
		maxBody = metricMaxBody
	}
	return &metricHTTP{
		client: client, method: method, url: c.URL, headers: h, host: host, body: c.Body,
		basic: c.BasicAuth, status: c.Expected().Status, path: c.Value, maxBody: maxBody, now: env.Now,
	}, nil
}

func (m *metricHTTP) fetch(ctx context.Context) sqlOutcome {
	start := m.now()
	out := func(st State, msg string) sqlOutcome {
		return sqlOutcome{Took: m.now().Sub(start), State: st, Message: msg}
	}
	var body io.Reader
	if m.body != "" {
		body = strings.NewReader(m.body)
	}
	req, err := http.NewRequestWithContext(ctx, m.method, m.url, body)
	if err != nil {
		return out(Crit, "invalid request: "+err.Error())
	}
	req.Header = m.headers.Clone()
	if m.host != "" {
		req.Host = m.host
	}
	if m.basic != nil {
		req.SetBasicAuth(m.basic.Username, m.basic.Password.Reveal())
	}
	resp, err := m.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return out(Crit, fmt.Sprintf("request cancelled after %s: %v", sqlShortDur(m.now().Sub(start)), ctx.Err()))
		}
		return out(Crit, "request failed: "+err.Error())
	}
	defer resp.Body.Close()
	if !metricStatusOK(m.status, resp.StatusCode) {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		return out(Crit, "HTTP "+resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, m.maxBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return out(Crit, fmt.Sprintf("reading the response cancelled: %v", ctx.Err()))
		}
		return out(Crit, "reading the response: "+err.Error())
	}
	if int64(len(data)) > m.maxBody {
		return out(Unknown, fmt.Sprintf("response larger than %d bytes, value not read", m.maxBody))
	}
	if !gjson.ValidBytes(data) {
		return out(Unknown, "response is not valid JSON")
	}
	r := gjson.GetBytes(data, m.path)
	v, why := metricJSONNumber(r, m.path)
	if why != "" {
		return out(Unknown, why)
	}
	o := out(OK, "")
	o.Value = v
	return o
}

func metricStatusOK(want []config.StatusMatcher, code int) bool {
	if len(want) == 0 {
		return code >= 200 && code < 300
	}
	for _, m := range want {
		if m.Match(code) {
			return true
		}
	}
	return false
}

// metricJSONNumber reads a gjson result as a number, or says why not.
func metricJSONNumber(r gjson.Result, path string) (float64, string) {
	switch r.Type {
	case gjson.Number:
		return sqlFinite(r.Num)
	case gjson.String:
		f, err := strconv.ParseFloat(strings.TrimSpace(r.Str), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			s := r.Str
			if len(s) > 40 {
				s = s[:40] + "..."
			}
			return 0, fmt.Sprintf("value at %q is %q, not a number", path, s)
		}
		return f, ""
	case gjson.True:
		return 1, ""
	case gjson.False:
		return 0, ""
	case gjson.Null:
		if !r.Exists() {
			return 0, fmt.Sprintf("path %q not found in the response", path)
		}
		return 0, fmt.Sprintf("value at %q is null", path)
	}
	kind := "an object"
	if r.IsArray() {
		kind = "an array"
	}
	return 0, fmt.Sprintf("value at %q is %s, not a number", path, kind)
}

// metricNumber formats a value for messages: integers in full, fractions
// with up to six significant digits.
func metricNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}
