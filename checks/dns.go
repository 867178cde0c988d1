package checks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/pulse-monitor/pulse/pkg/config"
)

// resolvConf is where the default server comes from when `server` is unset.
const resolvConf = "/etc/resolv.conf"

// dnsMaxShown is how many values an ok message lists before "(+N more)".
const dnsMaxShown = 5

// dnsCheck queries one record type of one name at one server.
type dnsCheck struct {
	name   string // fully qualified, as sent
	shown  string // name as the operator wrote it, for messages
	qtype  uint16
	record string // "A", "MX"...
	server string // host:port; "" when serverErr says why there is none
	// serverErr is why the system resolver could not be read; reported at
	// run time so that a config stays loadable on a host without one.
	serverErr error
	udp, tcp  *dns.Client
	expect    []string // normalised, sorted, deduplicated; nil when unset
	mxHosts   bool     // compare MX values by host only
}

var _ Checker = (*dnsCheck)(nil)

var dnsRecordTypes = map[string]uint16{
	"A": dns.TypeA, "AAAA": dns.TypeAAAA, "CNAME": dns.TypeCNAME,
	"MX": dns.TypeMX, "TXT": dns.TypeTXT, "NS": dns.TypeNS,
}

// newDNS builds a dns check. MX expectations are written either as
// "10 mail.example.com" (preference and host compared) or as
// "mail.example.com" (host only); when any expected MX value lacks a
// preference, preferences are ignored on both sides.
func newDNS(c *config.Check, env *Env) (Checker, error) {
	return newDNSWith(c, resolvConf)
}

func newDNSWith(c *config.Check, resolvPath string) (*dnsCheck, error) {
	query := strings.TrimSpace(c.Query)
	if query == "" {
		return nil, fmt.Errorf("check %q: query (the name to resolve) is empty", c.Name)
	}
	if _, ok := dns.IsDomainName(query); !ok {
		return nil, fmt.Errorf("check %q: query %q is not a domain name", c.Name, query)
	}
	record := strings.ToUpper(strings.TrimSpace(c.Record))
	if record == "" {
		record = "A"
	}
	qtype, ok := dnsRecordTypes[record]
	if !ok {
		return nil, fmt.Errorf("check %q: record %q is not one of A, AAAA, CNAME, MX, TXT, NS", c.Name, c.Record)
	}
	k := &dnsCheck{
		name:   dns.Fqdn(query),
		shown:  strings.TrimSuffix(query, "."),
		qtype:  qtype,
		record: record,
	}
	if c.Server != "" {
		server, err := dnsServerAddr(c.Server)
		if err != nil {
			return nil, fmt.Errorf("check %q: server: %w", c.Name, err)
		}
		k.server = server
	} else {
		k.server, k.serverErr = systemResolver(resolvPath)
	}
	// The context's deadline (the check's timeout) is what bounds a query;
	// the client's own limit only applies when a caller passes none.
	limit := c.Timeout.D()
	if limit <= 0 {
		limit = 10 * time.Second
	}
	k.udp = &dns.Client{Net: "udp", Timeout: limit}
	k.tcp = &dns.Client{Net: "tcp", Timeout: limit}

	if values := c.Expected().Values; len(values) > 0 {
		if record == "MX" {
			k.mxHosts = slices.ContainsFunc(values, func(v string) bool {
				_, _, hasPref := splitMX(v)
				return !hasPref
			})
		}
		for _, v := range values {
			n, err := k.normalise(v)
			if err != nil {
				return nil, fmt.Errorf("check %q: expect.values: %w", c.Name, err)
			}
			k.expect = append(k.expect, n)
		}
		slices.Sort(k.expect)
		k.expect = slices.Compact(k.expect)
	}
	return k, nil
}

// dnsServerAddr accepts "host", "host:port", "v6addr" and "[v6addr]:port".
func dnsServerAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if host, port, err := net.SplitHostPort(s); err == nil {
		if host == "" {
			return "", fmt.Errorf("%q has no host", s)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: invalid port %q", s, port)
		}
		return s, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if host == "" || strings.ContainsAny(host, "[] /") {
		return "", fmt.Errorf("%q is not host or host:port", s)
	}
	return net.JoinHostPort(host, "53"), nil
}

// systemResolver returns the first nameserver of a resolv.conf file.
func systemResolver(path string) (string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return "", fmt.Errorf("read system resolver: %w", err)
	}
	if len(cc.Servers) == 0 {
		return "", fmt.Errorf("read system resolver: no nameserver in %s", path)
	}
	port := cc.Port
	if port == "" {
		port = "53"
	}
	return net.JoinHostPort(cc.Servers[0], port), nil
}

// Run sends the query, retries over TCP when the UDP answer is truncated,
// and compares the answer with expect.values.
func (k *dnsCheck) Run(ctx context.Context) Result {
	if k.serverErr != nil {
		return Result{State: Unknown, Message: k.serverErr.Error()}
	}
	m := new(dns.Msg)
	m.SetQuestion(k.name, k.qtype)
	m.SetEdns0(4096, false)
	resp, _, err := k.udp.ExchangeContext(ctx, m, k.server)
	if err == nil && resp.Truncated {
		resp, _, err = k.tcp.ExchangeContext(ctx, m, k.server)
	}
	if err != nil {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			return Result{State: Crit, Message: fmt.Sprintf("%s %s: no answer from %s (timeout)", k.record, k.shown, k.server)}
		}
		return Result{State: Crit, Message: fmt.Sprintf("%s %s: query to %s failed: %v", k.record, k.shown, k.server, err)}
	}
	if resp.Rcode != dns.RcodeSuccess {
		rcode := dns.RcodeToString[resp.Rcode]
		if rcode == "" {
			rcode = "rcode " + strconv.Itoa(resp.Rcode)
		}
		return Result{State: Crit, Message: fmt.Sprintf("%s for %s %s from %s", rcode, k.record, k.shown, k.server)}
	}

	var got []string
	for _, rr := range resp.Answer {
		if rr.Header().Rrtype != k.qtype {
			continue // e.g. the CNAME chain in front of an A answer
		}
		got = append(got, k.value(rr))
	}
	var res Result
	res.SetValue(float64(len(got)))
	if len(got) == 0 {
		res.State = Crit
		res.Message = fmt.Sprintf("no %s records for %s", k.record, k.shown)
		return res
	}
	slices.Sort(got)
	got = slices.Compact(got)
	q := k.qtype == dns.TypeTXT
	if k.expect != nil {
		if missing, extra := setDiff(k.expect, got); len(missing)+len(extra) > 0 {
			res.State = Crit
			res.Message = fmt.Sprintf("%s %s: values differ: missing %s, unexpected %s (got %s)",
				k.record, k.shown, listValues(missing, q), listValues(extra, q), listValues(got, q))
			return res
		}
	}
	res.State = OK
	res.Message = fmt.Sprintf("%s %s: %s", k.record, k.shown, listValues(got, q))
	return res
}

// value renders an answer record the way expect.values are normalised.
func (k *dnsCheck) value(rr dns.RR) string {
	switch r := rr.(type) {
	case *dns.A:
		return r.A.String()
	case *dns.AAAA:
		return r.AAAA.String()
	case *dns.CNAME:
		return dnsHost(r.Target)
	case *dns.NS:
		return dnsHost(r.Ns)
	case *dns.MX:
		if k.mxHosts {
			return dnsHost(r.Mx)
		}
		return strconv.Itoa(int(r.Preference)) + " " + dnsHost(r.Mx)
	case *dns.TXT:
		// A TXT record's strings form one value (how SPF and DKIM read them).
		return strings.Join(r.Txt, "")
	}
	return rr.String()
}

// normalise puts an expected value in the form value() produces: addresses
// canonical, names lower-case without the trailing dot, TXT untouched.
func (k *dnsCheck) normalise(v string) (string, error) {
	switch k.qtype {
	case dns.TypeA, dns.TypeAAAA:
		ip, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil || (k.qtype == dns.TypeA) != ip.Unmap().Is4() {
			return "", fmt.Errorf("%q is not an %s address", v, k.record)
		}
		if k.qtype == dns.TypeA {
			ip = ip.Unmap()
		}
		return ip.String(), nil
	case dns.TypeMX:
		pref, host, hasPref := splitMX(v)
		if host == "" {
			return "", fmt.Errorf("%q is not an MX value (\"10 mail.example.com\" or \"mail.example.com\")", v)
		}
		if k.mxHosts {
			return dnsHost(host), nil
		}
		if !hasPref {
			return "", fmt.Errorf("%q has no preference", v)
		}
		return strconv.Itoa(pref) + " " + dnsHost(host), nil
	case dns.TypeCNAME, dns.TypeNS:
		h := strings.TrimSpace(v)
		if h == "" {
			return "", errors.New("empty host name")
		}
		return dnsHost(h), nil
	}
	return v, nil
}

// splitMX reads "10 mail.example.com" or "mail.example.com".
func splitMX(v string) (pref int, host string, hasPref bool) {
	f := strings.Fields(v)
	switch len(f) {
	case 1:
		return 0, f[0], false
	case 2:
		n, err := strconv.ParseUint(f[0], 10, 16)
		if err != nil {
			return 0, "", false
		}
		return int(n), f[1], true
	}
	return 0, "", false
}

func dnsHost(h string) string {
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// setDiff returns what is in want but not got, and in got but not want; both
// inputs are sorted and deduplicated.
func setDiff(want, got []string) (missing, extra []string) {
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || i < len(want) && want[i] < got[j]:
			missing = append(missing, want[i])
			i++
		case i == len(want) || got[j] < want[i]:
			extra = append(extra, got[j])
			j++
		default:
			i++
			j++
		}
	}
	return missing, extra
}

// listValues formats values for a one-line message, quoting TXT values and
// cutting long lists.
func listValues(vs []string, quote bool) string {
	if len(vs) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, v := range vs {
		if i == dnsMaxShown {
			fmt.Fprintf(&b, " (+%d more)", len(vs)-dnsMaxShown)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if len(v) > 80 {
			cut := 77
			for cut > 0 && v[cut]&0xC0 == 0x80 {
				cut--
			}
			v = v[:cut] + "..."
		}
		if quote {
			v = strconv.Quote(v)
		}
		b.WriteString(v)
	}
	return b.String()
}
