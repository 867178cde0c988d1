package checks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRunTurnsPanicsIntoCrit(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		panic any
		msg   string
	}{
		{"string", "boom", "check panicked: boom"},
		{"error", errors.New("nil map write"), "check panicked: nil map write"},
		{"multi-line value is folded", "first line\nsecond line", "check panicked: first line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := start
			now := func() time.Time { t := clock; clock = clock.Add(7 * time.Millisecond); return t }
			res := Run(context.Background(), "panicky", CheckerFunc(func(context.Context) Result {
				panic(tt.panic)
			}), time.Second, now)
			if res.State != Crit || res.Message != tt.msg {
				t.Fatalf("got %s %q, want crit %q", res.State, res.Message, tt.msg)
			}
			if res.Check != "panicky" || !res.Start.Equal(start) || res.Duration != 7*time.Millisecond {
				t.Errorf("check %q start %v duration %v", res.Check, res.Start, res.Duration)
			}
		})
	}
}

// TestRunLoggedLogsThePanicsStack: the result carries the panic's message
// only; the operator's log gets the stack, which names the panicking function.
func TestRunLoggedLogsThePanicsStack(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	res := RunLogged(context.Background(), log, "panicky", CheckerFunc(panickingCheck), time.Second, nil)
	if res.State != Crit || res.Message != "check panicked: boom" {
		t.Fatalf("got %s %q", res.State, res.Message)
	}
	var rec struct {
		Level, Msg, Check, Stack string
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	if rec.Level != "ERROR" || rec.Msg != "check panicked" || rec.Check != "panicky" {
		t.Errorf("log record %+v", rec)
	}
	if !strings.Contains(rec.Stack, "panickingCheck") {
		t.Errorf("stack does not name the panicking function:\n%s", rec.Stack)
	}

	buf.Reset()
	RunLogged(context.Background(), log, "fine", CheckerFunc(func(context.Context) Result { return Result{} }), time.Second, nil)
	if buf.Len() != 0 {
		t.Errorf("a check that did not panic logged %q", buf.String())
	}
}

func panickingCheck(context.Context) Result { panic("boom") }

func TestRunTimeoutOverridesALateOK(t *testing.T) {
	res := Run(context.Background(), "slow", CheckerFunc(func(ctx context.Context) Result {
		<-ctx.Done()
		return Result{State: OK, Message: "fine"}
	}), 30*time.Millisecond, nil)
	if res.State != Crit || res.Message != "timed out after 30ms" {
		t.Fatalf("got %s %q", res.State, res.Message)
	}
	if res.Duration < 30*time.Millisecond || res.Duration > 130*time.Millisecond {
		t.Errorf("duration %s", res.Duration)
	}
}

func TestRunKeepsTheCheckersOwnCritMessage(t *testing.T) {
	res := Run(context.Background(), "x", CheckerFunc(func(ctx context.Context) Result {
		<-ctx.Done()
		return Result{State: Crit, Message: "GET http://a/: timed out after 30ms\nmore", Duration: 5 * time.Second}
	}), 30*time.Millisecond, nil)
	if res.Message != "GET http://a/: timed out after 30ms" || res.Duration != 5*time.Second {
		t.Fatalf("got %q %s", res.Message, res.Duration)
	}
	long := Run(context.Background(), "x", CheckerFunc(func(context.Context) Result {
		return Result{State: OK, Message: strings.Repeat("é", 400)}
	}), 0, nil)
	if len(long.Message) > 500 || !strings.HasSuffix(long.Message, "...") {
		t.Errorf("long message kept %d bytes", len(long.Message))
	}
}

func TestFoldLines(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"one line", "one line"},
		{"failed to connect to `user=u database=d`:\n\t127.0.0.1:1 (127.0.0.1): refused\n\t127.0.0.1:1 (127.0.0.1): refused", "failed to connect to `user=u database=d`: 127.0.0.1:1 (127.0.0.1): refused"},
		{"a\r\n\r\nb\n  c  d ", "a; b; c d"},
		{"\n\n", ""},
	} {
		if got := foldLines(tc.in); got != tc.want {
			t.Errorf("foldLines(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
