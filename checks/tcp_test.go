package checks

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

func TestTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			accepted <- struct{}{}
		}
	}()
	open := ln.Addr().String()
	refused := closedPort(t)

	tests := []struct {
		name    string
		addr    string
		latency time.Duration
		state   State
		msg     string // prefix of the message
	}{
		{"open port", open, 0, OK, "connected in "},
		{"under expect.latency", open, 5 * time.Second, OK, "connected in "},
		{"over expect.latency", open, time.Nanosecond, Warn, "slow: "},
		{"closed port", refused, 0, Crit, "connect " + refused + ": connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &config.Check{Name: "edge", Type: "tcp", Expect: &config.Expect{Latency: config.Duration(tt.latency)}, KindFields: &config.KindFields{Address: tt.addr}}
			res := runKind(t, c, nil, 2*time.Second)
			if res.State != tt.state || !strings.HasPrefix(res.Message, tt.msg) {
				t.Fatalf("got %s %q, want %s starting %q", res.State, res.Message, tt.state, tt.msg)
			}
			if tt.state == Warn && !strings.HasSuffix(res.Message, " > 1ns") {
				t.Errorf("warn message %q does not name the limit", res.Message)
			}
			if len(res.Perf) != 1 || res.Perf[0].Label != "time" || res.Perf[0].UOM != "s" || res.Perf[0].Value <= 0 {
				t.Errorf("perf = %+v", res.Perf)
			}
			if res.HasValue {
				t.Errorf("tcp sets no value, got %v", res.Value)
			}
			if tt.state != Crit {
				select {
				case <-accepted:
				case <-time.After(2 * time.Second):
					t.Error("the listener saw no connection")
				}
			}
		})
	}
}

func TestTCPCheckDeadline(t *testing.T) {
	// A connect that hangs cannot be staged on loopback (the kernel answers
	// at once), so the run gets a context whose deadline has passed: the
	// dial must give up at once and say it timed out.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	k, err := New(&config.Check{Name: "edge", Type: "tcp", KindFields: &config.KindFields{Address: ln.Addr().String()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	res := k.Run(ctx)
	if res.State != Crit || !strings.HasPrefix(res.Message, "connect "+ln.Addr().String()+": timed out after ") {
		t.Fatalf("got %s %q", res.State, res.Message)
	}
}

func TestTCPConstructorErrors(t *testing.T) {
	for _, addr := range []string{"", "example.com", ":80", "example.com:"} {
		if _, err := New(&config.Check{Name: "x", Type: "tcp", KindFields: &config.KindFields{Address: addr}}, nil); err == nil || !strings.Contains(err.Error(), "want host:port") {
			t.Errorf("address %q: err = %v", addr, err)
		}
	}
}

func TestProbeDur(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{312*time.Microsecond + 400, "312µs"},
		{42*time.Millisecond + 300*time.Microsecond, "42ms"},
		{812 * time.Millisecond, "812ms"},
		{1234 * time.Millisecond, "1.23s"},
	}
	for _, tt := range tests {
		if got := probeDur(tt.d); got != tt.want {
			t.Errorf("probeDur(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := probeSlow(812*time.Millisecond, 500*time.Millisecond); got != "slow: 812ms > 500ms" {
		t.Errorf("probeSlow = %q", got)
	}
	if got := probeSlow(500*time.Millisecond+400*time.Microsecond, 500*time.Millisecond); got != "slow: 500.4ms > 500ms" {
		t.Errorf("probeSlow near the limit = %q", got)
	}
}
