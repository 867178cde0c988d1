package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/notify"
)

// TestPost: the request a receiver sees, and the answers the notifiers get
// back: a redirect is an answer, an oversized answer is cut, a timeout is a
// retryable error that does not show the URL's secret.
func TestPost(t *testing.T) {
	var got http.Header
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte("fine"))
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", maxAnswer+1)))
	})
	mux.HandleFunc("/slow/s3cr3t-token", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := New(srv.Client(), 100*time.Millisecond, time.Now, URLSecrets(srv.URL+"/slow/s3cr3t-token")...)
	ctx := context.Background()

	a, err := c.Post(ctx, srv.URL+"/ok", []byte(`{}`), http.Header{"Authorization": {"Bearer x"}})
	if err != nil || a.Status != http.StatusAccepted || string(a.Body) != "fine" {
		t.Fatalf("ok: %+v, %v", a, err)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "pulse", "Authorization": "Bearer x"} {
		if got.Get(k) != want {
			t.Errorf("%s: %q, want %q", k, got.Get(k), want)
		}
	}

	var method string
	mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
		method = r.Method
		w.WriteHeader(http.StatusAccepted)
	})
	if a, err := c.Do(ctx, http.MethodPut, srv.URL+"/put", []byte(`{}`), nil); err != nil || a.Status != http.StatusAccepted || method != http.MethodPut {
		t.Errorf("put: %+v, %v, method %q", a, err, method)
	}

	if a, err := c.Post(ctx, srv.URL+"/moved", nil, nil); err != nil || a.Status != http.StatusFound {
		t.Errorf("redirect: %+v, %v; want the 302 itself", a, err)
	}

	if a, err := c.Post(ctx, srv.URL+"/big", nil, nil); err != nil || string(a.Body) != "(answer larger than 64 KiB)" {
		t.Errorf("big answer: %v, body of %d bytes", err, len(a.Body))
	}

	_, err = c.Post(ctx, srv.URL+"/slow/s3cr3t-token", nil, nil)
	var se *notify.SendError
	if !errors.As(err, &se) || !se.Retryable || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v, want a retryable deadline error", err)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("timeout error shows the secret: %v", err)
	}
}
