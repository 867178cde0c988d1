package notifytest

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/notify"
)

// Check must catch every way a notifier can misjudge an answer, or the
// answer tables built on it cannot fail.
func TestAnswerCheck(t *testing.T) {
	a := Answer{Status: 429, Body: `{"retry_after":3}`, Retryable: true, RetryAfter: 3 * time.Second}
	good := &notify.SendError{Err: errors.New("x"), Status: 429, Retryable: true, RetryAfter: 3 * time.Second, Answer: a.Body}
	wrap := func(se notify.SendError) error { return &se }
	if err := a.Check(wrap(*good), ""); err != nil {
		t.Fatalf("a right classification refused: %v", err)
	}
	bad := map[string]error{
		"success":        nil,
		"plain error":    errors.New("boom"),
		"not retryable":  wrap(notify.SendError{Err: good.Err, Status: 429, RetryAfter: 3 * time.Second, Answer: a.Body}),
		"wrong delay":    wrap(notify.SendError{Err: good.Err, Status: 429, Retryable: true, RetryAfter: time.Second, Answer: a.Body}),
		"wrong status":   wrap(notify.SendError{Err: good.Err, Status: 503, Retryable: true, RetryAfter: 3 * time.Second, Answer: a.Body}),
		"wrong answer":   wrap(notify.SendError{Err: good.Err, Status: 429, Retryable: true, RetryAfter: 3 * time.Second, Answer: "other"}),
		"missing answer": wrap(notify.SendError{Err: good.Err, Status: 429, Retryable: true, RetryAfter: 3 * time.Second}),
	}
	for name, err := range bad {
		if a.Check(err, "") == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := a.Check(wrap(*good), `slack "ops": `); err == nil || !strings.Contains(err.Error(), "does not begin with") {
		t.Errorf("a wrong prefix accepted: %v", err)
	}
	if err := (Answer{Status: 202, OK: true}).Check(wrap(*good), ""); err == nil {
		t.Error("an error accepted for an OK answer")
	}
	if err := (Answer{Status: 202, OK: true}).Check(nil, ""); err != nil {
		t.Errorf("success refused for an OK answer: %v", err)
	}

	rec := httptest.NewRecorder()
	Answer{Status: 429, Header: map[string]string{"Retry-After": "3"}, Body: "slow down"}.Serve(rec)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "3" || rec.Body.String() != "slow down" {
		t.Errorf("Serve wrote %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
}
