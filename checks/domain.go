package checks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// domainCheck reads a domain's registration from its registry over RDAP
// (RFC 9083, queried as RFC 9082 says) and judges the days until it
// expires, like the tls check judges a certificate. The registry's RDAP
// server is found in IANA's bootstrap file (RFC 9224) unless url names it.
type domainCheck struct {
	domain     string
	base       string // the registry's RDAP base URL; "" finds it by bootstrap
	bootstrap  string // IANA's bootstrap file
	warnWithin time.Duration
	critWithin time.Duration
	warnDays   string
	critDays   string
	client     *http.Client
	now        func() time.Time

	mu      sync.Mutex
	found   string    // the base the bootstrap gave ("": not looked up yet)
	foundAt time.Time // when; looked up again after a day
}

var _ Checker = (*domainCheck)(nil)

const (
	ianaRDAPBootstrap = "https://data.iana.org/rdap/dns.json"
	// rdapMax bounds what is read of an answer: registries' answers are a
	// few KB, the bootstrap file about 30 KB.
	rdapMax = 1 << 20
)

func newDomain(c *config.Check, env *Env) (Checker, error) {
	if c.Address == "" {
		return nil, fmt.Errorf("check %q: address (the domain) is required", c.Name)
	}
	warn, crit := c.WarnDays, c.CritDays
	if warn == 0 && crit == 0 {
		warn, crit = config.DefaultDomainWarnDays, config.DefaultDomainCritDays
	}
	k := &domainCheck{
		domain:     strings.TrimSuffix(strings.ToLower(c.Address), "."),
		bootstrap:  ianaRDAPBootstrap,
		warnWithin: time.Duration(warn) * 24 * time.Hour,
		critWithin: time.Duration(crit) * 24 * time.Hour,
		warnDays:   strconv.Itoa(warn),
		critDays:   strconv.Itoa(crit),
		client:     &http.Client{Timeout: time.Minute}, // the check's own timeout (ctx) is shorter
		now:        env.Now,
	}
	if c.HTTPFields != nil && c.URL != "" {
		k.base = strings.TrimSuffix(c.URL, "/") + "/"
	}
	if k.now == nil {
		k.now = time.Now
	}
	return k, nil
}

// rdapDomain is what pulse reads of an RDAP domain object.
type rdapDomain struct {
	LDHName string   `json:"ldhName"`
	Status  []string `json:"status"`
	Events  []struct {
		Action string    `json:"eventAction"`
		Date   time.Time `json:"eventDate"`
	} `json:"events"`
}

// Run finds the registry, asks it for the domain and judges the answer.
func (k *domainCheck) Run(ctx context.Context) Result {
	start := time.Now()
	base, err := k.registry(ctx)
	if err != nil {
		return Result{State: Unknown, Message: k.domain + ": find the registry: " + err.Error()}
	}
	var d rdapDomain
	status, err := k.get(ctx, base+"domain/"+url.PathEscape(k.domain), &d)
	took := time.Since(start)
	switch {
	case status == http.StatusNotFound:
		return Result{State: Crit, Message: k.domain + ": not registered (the registry answers 404)", Perf: probeTimePerf(took)}
	case err != nil:
		return Result{State: Unknown, Message: k.domain + ": " + err.Error(), Perf: probeTimePerf(took)}
	}
	return k.judge(&d, took)
}

// judge is the verdict on a domain object: crit on a status that takes the
// domain out of the DNS or ends it, then by the days to expiration.
func (k *domainCheck) judge(d *rdapDomain, took time.Duration) Result {
	for _, s := range d.Status {
		switch strings.ToLower(s) {
		case "client hold", "server hold", "redemption period", "pending delete", "inactive":
			return Result{State: Crit, Message: k.domain + ": status " + s, Perf: probeTimePerf(took)}
		}
	}
	var expires time.Time
	for _, e := range d.Events {
		if strings.EqualFold(e.Action, "expiration") {
			expires = e.Date
		}
	}
	if expires.IsZero() {
		return Result{State: Unknown, Message: k.domain + ": the registry gives no expiration date", Perf: probeTimePerf(took)}
	}
	left := expires.Sub(k.now())
	var res Result
	res.SetValue(left.Hours() / 24)
	res.Perf = []Perf{
		{Label: "days", Value: math.Round(left.Hours()/24*100) / 100, Warn: k.warnDays, Crit: k.critDays},
		probeTimePerf(took)[0],
	}
	date := certDate(expires)
	switch {
	case left <= 0:
		res.State, res.Message = Crit, fmt.Sprintf("%s: registration expired %s ago (%s)", k.domain, certSpan(-left), date)
	case left < k.critWithin:
		res.State, res.Message = Crit, fmt.Sprintf("%s: registration expires in %s (%s), within %s", k.domain, certSpan(left), date, certSpan(k.critWithin))
	case left < k.warnWithin:
		res.State, res.Message = Warn, fmt.Sprintf("%s: registration expires in %s (%s), within %s", k.domain, certSpan(left), date, certSpan(k.warnWithin))
	default:
		res.State, res.Message = OK, fmt.Sprintf("%s: registration expires in %s (%s)", k.domain, certSpan(left), date)
	}
	return res
}

// registry returns the RDAP base URL for the domain: url when configured,
// else the bootstrap file's entry for the longest matching suffix, looked
// up again once a day (registries move rarely).
func (k *domainCheck) registry(ctx context.Context) (string, error) {
	if k.base != "" {
		return k.base, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.found != "" && k.now().Sub(k.foundAt) < 24*time.Hour {
		return k.found, nil
	}
	var boot struct {
		Services [][][]string `json:"services"`
	}
	if _, err := k.get(ctx, k.bootstrap, &boot); err != nil {
		return "", err
	}
	best, bestLen := "", 0
	for _, svc := range boot.Services {
		if len(svc) < 2 || len(svc[1]) == 0 {
			continue
		}
		for _, suffix := range svc[0] {
			s := strings.ToLower(suffix)
			if (k.domain == s || strings.HasSuffix(k.domain, "."+s)) && len(s) > bestLen {
				best, bestLen = preferHTTPS(svc[1]), len(s)
			}
		}
	}
	if best == "" {
		return "", errors.New("no RDAP server for its top-level domain in IANA's bootstrap (set url)")
	}
	k.found, k.foundAt = strings.TrimSuffix(best, "/")+"/", k.now()
	return k.found, nil
}

// preferHTTPS picks the https URL of a bootstrap entry, as RFC 9224 asks.
func preferHTTPS(urls []string) string {
	for _, u := range urls {
		if strings.HasPrefix(u, "https://") {
			return u
		}
	}
	return urls[0]
}

// get fetches u as RDAP JSON into v and returns the status code.
func (k *domainCheck) get(ctx context.Context, u string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/rdap+json, application/json")
	req.Header.Set("User-Agent", "pulse")
	resp, err := k.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the message already or is public
		}
		return 0, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, rdapMax))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return resp.StatusCode, fmt.Errorf("GET %s: not RDAP JSON: %w", u, err)
	}
	return resp.StatusCode, nil
}
