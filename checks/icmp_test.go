package checks

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// icmpAllowed skips a test when this process may open no ICMP socket (not
// root, no CAP_NET_RAW, ping_group_range excluding its group); CI runs as
// root, so there the tests always run.
func icmpAllowed(t *testing.T) {
	t.Helper()
	conn, _, _, err := listenICMP(net.IPv4(127, 0, 0, 1))
	if err != nil {
		t.Skipf("no ICMP socket here: %v", err)
	}
	conn.Close()
}

func runICMP(t *testing.T, c *config.Check, timeout time.Duration) Result {
	t.Helper()
	k, err := New(c, &Env{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return Run(context.Background(), c.Name, k, timeout, nil)
}

func TestICMPLoopback(t *testing.T) {
	icmpAllowed(t)
	for _, addr := range []string{"127.0.0.1", "localhost"} {
		res := runICMP(t, &config.Check{Name: "lo", Type: "icmp", KindFields: &config.KindFields{Address: addr}}, 5*time.Second)
		if res.State != OK || !strings.Contains(res.Message, "0% loss, rtt ") {
			t.Fatalf("%s: got %s %q, want ok with 0%% loss", addr, res.State, res.Message)
		}
		if !res.HasValue || res.Value != 0 || len(res.Perf) != 2 || res.Perf[0].Label != "pl" || res.Perf[1].Label != "rta" {
			t.Errorf("%s: value %v (%v), perf %+v", addr, res.Value, res.HasValue, res.Perf)
		}
	}
}

func TestICMPUnreachableIsCrit(t *testing.T) {
	icmpAllowed(t)
	// 2001:db8::1 is for documentation (RFC 3849): nothing answers it.
	res := runICMP(t, &config.Check{Name: "gone", Type: "icmp", KindFields: &config.KindFields{Address: "2001:db8::1"}}, 3*time.Second)
	if res.State == OK {
		t.Skipf("the network here answers 2001:db8::1 (%q)", res.Message)
	}
	if res.State != Crit || !strings.Contains(res.Message, "100% loss, no reply to 5 requests") || res.Value != 100 {
		t.Fatalf("got %s %q (value %v), want crit with 100%% loss", res.State, res.Message, res.Value)
	}
}

func TestICMPJudge(t *testing.T) {
	ms := time.Millisecond
	k, err := newICMP(&config.Check{Name: "h", Type: "icmp", KindFields: &config.KindFields{Address: "h.example"},
		Expect: &config.Expect{Latency: config.Duration(50 * ms)}}, &Env{})
	if err != nil {
		t.Fatal(err)
	}
	ic := k.(*icmpCheck)
	ip := net.IPv4(192, 0, 2, 7)
	tests := []struct {
		name  string
		rtts  []time.Duration
		state State
		msg   string
	}{
		{"all answered", []time.Duration{ms, 2 * ms, 3 * ms, 2 * ms, 2 * ms}, OK, "h.example (192.0.2.7): 0% loss, rtt 2ms mean, 3ms max"},
		{"one lost is warn (>= 20)", []time.Duration{ms, 0, ms, ms, ms}, Warn, "20% loss, rtt 1ms mean, 1ms max (warn_if >= 20)"},
		{"three lost is crit (>= 60)", []time.Duration{ms, 0, 0, 0, ms}, Crit, "60% loss, rtt 1ms mean, 1ms max (crit_if >= 60)"},
		{"none answered", []time.Duration{0, 0, 0, 0, 0}, Crit, "100% loss, no reply to 5 requests"},
		{"slow mean is warn", []time.Duration{60 * ms, 70 * ms, 80 * ms, 60 * ms, 80 * ms}, Warn, "rtt 70ms mean, 80ms max (over 50ms)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ic.judge(ip, tt.rtts)
			if res.State != tt.state || !strings.Contains(res.Message, tt.msg) {
				t.Errorf("got %s %q, want %s containing %q", res.State, res.Message, tt.state, tt.msg)
			}
		})
	}
}
