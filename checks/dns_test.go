package checks

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/pulse-monitor/pulse/pkg/config"
)

// testZone is what the in-process server knows; names not listed are
// NXDOMAIN, a few names provoke other answers (see serveDNS).
var testZone = map[string][]string{
	"a.example.":     {"a.example. 60 IN A 192.0.2.1", "a.example. 60 IN A 192.0.2.2"},
	"many.example.":  {"many.example. 60 IN A 192.0.2.1", "many.example. 60 IN A 192.0.2.2", "many.example. 60 IN A 192.0.2.3", "many.example. 60 IN A 192.0.2.4", "many.example. 60 IN A 192.0.2.5", "many.example. 60 IN A 192.0.2.6", "many.example. 60 IN A 192.0.2.7"},
	"v6.example.":    {"v6.example. 60 IN AAAA 2001:db8::1"},
	"www.example.":   {"www.example. 60 IN CNAME Target.Example.", "target.example. 60 IN A 192.0.2.9"},
	"mail.example.":  {"mail.example. 60 IN MX 10 mx1.example.", "mail.example. 60 IN MX 20 Backup.Example."},
	"zone.example.":  {"zone.example. 60 IN NS ns1.example.", "zone.example. 60 IN NS NS2.example."},
	"txt.example.":   {`txt.example. 60 IN TXT "v=spf1 -all"`, `txt.example. 60 IN TXT "part1, " "part2"`},
	"empty.example.": {},
}

// bigTXT needs TCP: its UDP answer is truncated.
const bigTXT = "big.example."

func serveDNS(t *testing.T) string {
	t.Helper()
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, req *dns.Msg) {
		q := req.Question[0]
		m := new(dns.Msg)
		m.SetReply(req)
		switch strings.ToLower(q.Name) {
		case "slow.example.":
			return // never answer: the client must time out
		case "broken.example.":
			m.Rcode = dns.RcodeServerFailure
		case "refused.example.":
			m.Rcode = dns.RcodeRefused
		case bigTXT:
			if w.LocalAddr().Network() == "udp" {
				m.Truncated = true
				break
			}
			for i := range 40 {
				rr, _ := dns.NewRR(fmt.Sprintf(`big.example. 60 IN TXT "record %02d %s"`, i, strings.Repeat("x", 100)))
				m.Answer = append(m.Answer, rr)
			}
		default:
			rrs, ok := testZone[strings.ToLower(q.Name)]
			if !ok {
				m.Rcode = dns.RcodeNameError
				break
			}
			for _, s := range rrs {
				rr, err := dns.NewRR(s)
				if err != nil {
					panic(err)
				}
				// Like a real server: the records of the asked type, and a
				// CNAME with what it points to for any type.
				if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME || len(m.Answer) > 0 && m.Answer[0].Header().Rrtype == dns.TypeCNAME && q.Qtype != dns.TypeCNAME {
					m.Answer = append(m.Answer, rr)
				}
			}
			if q.Qtype == dns.TypeCNAME {
				m.Answer = m.Answer[:min(len(m.Answer), 1)]
			}
		}
		_ = w.WriteMsg(m)
	})

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The same port over TCP, for truncated answers.
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Skipf("cannot listen on tcp %s: %v", pc.LocalAddr(), err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: mux}, {Listener: ln, Handler: mux}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

func TestDNSCheck(t *testing.T) {
	server := serveDNS(t)
	tests := []struct {
		name   string
		query  string
		record string
		expect []string
		state  State
		msg    string // %S is the server address
		value  float64
	}{
		{name: "A", query: "a.example", record: "A", state: OK, msg: "A a.example: 192.0.2.1, 192.0.2.2", value: 2},
		{name: "record defaults to A", query: "a.example.", state: OK, msg: "A a.example: 192.0.2.1, 192.0.2.2", value: 2},
		{name: "A expected in any order", query: "a.example", record: "a", expect: []string{"192.0.2.2", " 192.0.2.1", "192.0.2.1"}, state: OK, msg: "A a.example: 192.0.2.1, 192.0.2.2", value: 2},
		{name: "A values differ", query: "a.example", record: "A", expect: []string{"192.0.2.1", "192.0.2.3"}, state: Crit,
			msg: "A a.example: values differ: missing 192.0.2.3, unexpected 192.0.2.2 (got 192.0.2.1, 192.0.2.2)", value: 2},
		{name: "A list is cut", query: "many.example", record: "A", state: OK,
			msg: "A many.example: 192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4, 192.0.2.5 (+2 more)", value: 7},
		{name: "A through a CNAME", query: "www.example", record: "A", expect: []string{"192.0.2.9"}, state: OK, msg: "A www.example: 192.0.2.9", value: 1},
		{name: "AAAA canonical form", query: "v6.example", record: "AAAA", expect: []string{"2001:DB8:0:0::1"}, state: OK, msg: "AAAA v6.example: 2001:db8::1", value: 1},
		{name: "no AAAA records", query: "a.example", record: "AAAA", state: Crit, msg: "no AAAA records for a.example", value: 0},
		{name: "no A records (NODATA)", query: "empty.example", record: "A", state: Crit, msg: "no A records for empty.example", value: 0},
		{name: "CNAME case and dot insensitive", query: "www.example", record: "CNAME", expect: []string{"TARGET.example."}, state: OK, msg: "CNAME www.example: target.example", value: 1},
		{name: "CNAME differs", query: "www.example", record: "CNAME", expect: []string{"other.example"}, state: Crit,
			msg: "CNAME www.example: values differ: missing other.example, unexpected target.example (got target.example)", value: 1},
		{name: "MX with preferences", query: "mail.example", record: "MX", expect: []string{"20 backup.example", "10 MX1.example."}, state: OK,
			msg: "MX mail.example: 10 mx1.example, 20 backup.example", value: 2},
		{name: "MX hosts only", query: "mail.example", record: "MX", expect: []string{"backup.example.", "mx1.example"}, state: OK,
			msg: "MX mail.example: backup.example, mx1.example", value: 2},
		{name: "MX preferences differ", query: "mail.example", record: "MX", expect: []string{"10 backup.example", "20 mx1.example"}, state: Crit,
			msg: "MX mail.example: values differ: missing 10 backup.example, 20 mx1.example, unexpected 10 mx1.example, 20 backup.example (got 10 mx1.example, 20 backup.example)", value: 2},
		{name: "NS", query: "zone.example", record: "NS", expect: []string{"ns2.example", "NS1.EXAMPLE."}, state: OK, msg: "NS zone.example: ns1.example, ns2.example", value: 2},
		{name: "TXT strings joined", query: "txt.example", record: "TXT", expect: []string{"part1, part2", "v=spf1 -all"}, state: OK,
			msg: `TXT txt.example: "part1, part2", "v=spf1 -all"`, value: 2},
		{name: "TXT is case sensitive", query: "txt.example", record: "TXT", expect: []string{"part1, part2", "V=SPF1 -ALL"}, state: Crit,
			msg: `TXT txt.example: values differ: missing "V=SPF1 -ALL", unexpected "v=spf1 -all" (got "part1, part2", "v=spf1 -all")`, value: 2},
		{name: "truncated UDP answer retried over TCP", query: "big.example", record: "TXT", state: OK, value: 40,
			msg: `TXT big.example: "record 00 ` + strings.Repeat("x", 67) + `...", "record 01 `},
		{name: "NXDOMAIN", query: "missing.example", record: "A", state: Crit, msg: "NXDOMAIN for A missing.example from %S"},
		{name: "SERVFAIL", query: "broken.example", record: "MX", state: Crit, msg: "SERVFAIL for MX broken.example from %S"},
		{name: "REFUSED", query: "refused.example", record: "NS", state: Crit, msg: "REFUSED for NS refused.example from %S"},
		{name: "timeout", query: "slow.example", record: "A", state: Crit, msg: "A slow.example: no answer from %S (timeout)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &config.Check{Name: "dns", Type: "dns", KindFields: &config.KindFields{Query: tc.query, Record: tc.record, Server: server}}
			c.Expect = &config.Expect{Values: tc.expect}
			k, err := New(c, nil)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res := Run(context.Background(), "dns", k, 300*time.Millisecond, nil)
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %s with a 300ms timeout", took)
			}
			want := strings.ReplaceAll(tc.msg, "%S", server)
			if res.State != tc.state || !strings.HasPrefix(res.Message, want) {
				t.Errorf("got %s %q\nwant %s %q", res.State, res.Message, tc.state, want)
			}
			if strings.HasPrefix(tc.msg, "no ") || tc.value > 0 {
				if !res.HasValue || res.Value != tc.value {
					t.Errorf("value = %v (set %v), want %v", res.Value, res.HasValue, tc.value)
				}
			} else if res.HasValue {
				t.Errorf("value %v set for a failed query", res.Value)
			}
		})
	}
}

func TestDNSServerUnreachable(t *testing.T) {
	// A UDP port nobody listens on: the kernel answers "connection refused".
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	k, err := New(&config.Check{Name: "dns", Type: "dns", KindFields: &config.KindFields{Query: "a.example", Server: addr}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := Run(context.Background(), "dns", k, time.Second, nil)
	if res.State != Crit || !strings.Contains(res.Message, addr) {
		t.Fatalf("got %s %q", res.State, res.Message)
	}
}

func TestDNSServerAddr(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "127.0.0.1:5353", want: "127.0.0.1:5353"},
		{in: "127.0.0.1", want: "127.0.0.1:53"},
		{in: " dns.example.com ", want: "dns.example.com:53"},
		{in: "::1", want: "[::1]:53"},
		{in: "[::1]", want: "[::1]:53"},
		{in: "[2001:db8::1]:5353", want: "[2001:db8::1]:5353"},
		{in: ":53", err: "has no host"},
		{in: "host:99999", err: "invalid port"},
		{in: "host:dns", err: "invalid port"},
		{in: "a b", err: "is not host or host:port"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := dnsServerAddr(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("dnsServerAddr(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("dnsServerAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestDNSSystemResolver(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, path, server, unknown string
	}{
		{name: "first nameserver", path: write("v4", "# comment\nsearch example.com\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"), server: "192.0.2.53:53"},
		{name: "ipv6 nameserver", path: write("v6", "nameserver ::1\n"), server: "[::1]:53"},
		{name: "no nameserver", path: write("none", "search example.com\n"), unknown: "no nameserver in"},
		{name: "no file", path: filepath.Join(dir, "missing"), unknown: "read system resolver: open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := newDNSWith(&config.Check{Name: "dns", KindFields: &config.KindFields{Query: "a.example"}}, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.unknown == "" {
				if k.server != tc.server || k.serverErr != nil {
					t.Fatalf("server = %q, %v; want %q", k.server, k.serverErr, tc.server)
				}
				return
			}
			// A host without a resolver still loads the config; the run says why.
			res := k.Run(context.Background())
			if res.State != Unknown || !strings.Contains(res.Message, tc.unknown) {
				t.Fatalf("got %s %q, want unknown %q", res.State, res.Message, tc.unknown)
			}
		})
	}
}

func TestDNSConstructorErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		c      config.Check
		errMsg string
	}{
		{name: "no query", c: config.Check{KindFields: &config.KindFields{Record: "A"}}, errMsg: "query (the name to resolve) is empty"},
		{name: "bad name", c: config.Check{KindFields: &config.KindFields{Query: "a..b"}}, errMsg: "is not a domain name"},
		{name: "unsupported record", c: config.Check{KindFields: &config.KindFields{Query: "a.example", Record: "SRV"}}, errMsg: `record "SRV" is not one of`},
		{name: "bad server", c: config.Check{KindFields: &config.KindFields{Query: "a.example", Server: "host:0"}}, errMsg: "server:"},
		{name: "bad A value", c: config.Check{Expect: &config.Expect{Values: []string{"not-an-ip"}}, KindFields: &config.KindFields{Query: "a.example"}}, errMsg: `"not-an-ip" is not an A address`},
		{name: "IPv6 for A", c: config.Check{Expect: &config.Expect{Values: []string{"2001:db8::1"}}, KindFields: &config.KindFields{Query: "a.example"}}, errMsg: "is not an A address"},
		{name: "IPv4 for AAAA", c: config.Check{Expect: &config.Expect{Values: []string{"192.0.2.1"}}, KindFields: &config.KindFields{Query: "a.example", Record: "AAAA"}}, errMsg: "is not an AAAA address"},
		{name: "bad MX", c: config.Check{Expect: &config.Expect{Values: []string{"x y z"}}, KindFields: &config.KindFields{Query: "a.example", Record: "MX"}}, errMsg: "is not an MX value"},
		{name: "empty CNAME", c: config.Check{Expect: &config.Expect{Values: []string{" "}}, KindFields: &config.KindFields{Query: "a.example", Record: "CNAME"}}, errMsg: "empty host name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.Name, c.Type = "d", "dns"
			_, err := New(&c, nil)
			if err == nil || !strings.Contains(err.Error(), tc.errMsg) || !strings.HasPrefix(err.Error(), `check "d": `) {
				t.Fatalf("err = %v, want %q", err, tc.errMsg)
			}
		})
	}
}

func TestSetDiff(t *testing.T) {
	missing, extra := setDiff([]string{"a", "c", "e"}, []string{"b", "c", "d", "f"})
	if strings.Join(missing, ",") != "a,e" || strings.Join(extra, ",") != "b,d,f" {
		t.Fatalf("missing %v extra %v", missing, extra)
	}
}
