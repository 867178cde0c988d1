package notifytest

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/notify"
)

// Answer is one row of a notifier's answer table: what the receiver
// answers, and how Send must take it.
type Answer struct {
	Name   string // the subtest's name; the status when empty
	Status int
	Header map[string]string
	Body   string
	// OK: Send must succeed. Otherwise it must fail with a
	// *notify.SendError of this Status, Retryable and RetryAfter, whose
	// Answer is Answer, or Body when Answer is empty.
	OK         bool
	Retryable  bool
	RetryAfter time.Duration
	Answer     string
}

// Serve writes the answer to w.
func (a Answer) Serve(w http.ResponseWriter) {
	for k, v := range a.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.Status)
	_, _ = io.WriteString(w, a.Body)
}

// Check returns what is wrong with err, what Send returned for a receiver
// answering a (nil when nothing is). prefix, when not empty, is how the
// error must begin (the notifier's kind and name).
func (a Answer) Check(err error, prefix string) error {
	if a.OK {
		if err != nil {
			return fmt.Errorf("Send = %v, want success", err)
		}
		return nil
	}
	se, ok := asSendError(err)
	if !ok {
		return fmt.Errorf("Send = %v, want a *notify.SendError", err)
	}
	want := a.Answer
	if want == "" {
		want = a.Body
	}
	if se.Retryable != a.Retryable || se.RetryAfter != a.RetryAfter || se.Status != a.Status || se.Answer != want {
		return fmt.Errorf("got retryable=%v after=%v status=%d answer=%q, want retryable=%v after=%v status=%d answer=%q (%v)",
			se.Retryable, se.RetryAfter, se.Status, se.Answer, a.Retryable, a.RetryAfter, a.Status, want, err)
	}
	if notify.Retryable(err) != a.Retryable || notify.RetryAfter(err) != a.RetryAfter {
		return fmt.Errorf("notify.Retryable / RetryAfter (%v, %v) disagree with the SendError (%v)", notify.Retryable(err), notify.RetryAfter(err), err)
	}
	if prefix != "" && !strings.HasPrefix(err.Error(), prefix) {
		return fmt.Errorf("error %q does not begin with %q", err, prefix)
	}
	return nil
}

// Answers runs each row of table as a subtest: send makes the notifier
// under test post to a receiver on 127.0.0.1 that answers with the given
// function, and returns what Send returned; Check judges it.
func Answers(t *testing.T, prefix string, table []Answer, send func(t *testing.T, answer func(w http.ResponseWriter)) error) {
	t.Helper()
	for _, a := range table {
		name := a.Name
		if name == "" {
			name = strconv.Itoa(a.Status)
		}
		t.Run(name, func(t *testing.T) {
			if err := a.Check(send(t, a.Serve), prefix); err != nil {
				t.Fatal(err)
			}
		})
	}
}
