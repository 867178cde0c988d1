// Package httpx is the HTTP plumbing the HTTP notifiers (all but email)
// share: one net/http client per notifier, JSON POSTs under a
// deadline, and the conversion of whatever happened into a notify.SendError
// that never carries the notifier's secrets.
package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/notify"
)

// DefaultTimeout bounds one request when the notifier sets no timeout.
const DefaultTimeout = 10 * time.Second

// maxAnswer bounds what is read of a receiver's answer: enough for any error
// document, not enough for a misconfigured URL serving a large file to hurt.
const maxAnswer = 64 << 10

// Client posts JSON documents to one receiver.
type Client struct {
	hc      *http.Client
	timeout time.Duration
	now     func() time.Time
	secrets []string
}

// Answer is the receiver's HTTP answer.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// New returns a Client using a copy of hc (nil: Go's default transport) that
// redacts secrets from everything it reports.
func New(hc *http.Client, timeout time.Duration, now func() time.Time, secrets ...string) *Client {
	var own http.Client
	if hc != nil {
		own = *hc // the redirect policy below is this notifier's own
	}
	// A redirect is an answer, not something to follow: a POST turned into a
	// GET by a 302 could "succeed" without delivering anything.
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{hc: &own, timeout: timeout, now: now, secrets: secrets}
}

// Post sends body (JSON) to url with the given extra headers. A failure to get
// any answer is returned as a retryable *notify.SendError without secrets.
func (c *Client) Post(ctx context.Context, url string, body []byte, header http.Header) (*Answer, error) {
	return c.Do(ctx, http.MethodPost, url, body, header)
}

// Do is Post with another method, for the APIs that change a resource with
// PUT or PATCH (Opsgenie's alert priority).
func (c *Client) Do(ctx context.Context, method, url string, body []byte, header http.Header) (*Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, notify.TransportError(err, c.secrets...)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pulse")
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, notify.TransportError(err, c.secrets...)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if len(b) > maxAnswer {
		return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: []byte("(answer larger than 64 KiB)")}, nil
	}
	if err != nil {
		return nil, notify.TransportError(err, c.secrets...)
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Err classifies an answer the notifier did not accept.
func (c *Client) Err(a *Answer) *notify.SendError {
	return notify.ResponseError(a.Status, a.Header, a.Body, c.now(), c.secrets...)
}

// JSON encodes v as a request body. Unlike json.Marshal it leaves <, > and &
// alone: receivers show these strings to people, and "\u003c" in a payload
// only makes the golden files and receiver logs harder to read.
func JSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// URLSecrets is what must never be shown of a URL that is a credential:
// all of it, and its path, last path segment and query on their own (the
// token lives there; some errors print only part of a URL).
func URLSecrets(raw string) []string {
	s := []string{raw}
	if u, err := url.Parse(raw); err == nil {
		if len(u.Path) > 1 {
			s = append(s, u.Path, u.EscapedPath())
			if i := strings.LastIndexByte(u.Path, '/'); i >= 0 && len(u.Path)-i > 4 {
				s = append(s, u.Path[i+1:])
			}
		}
		if u.RawQuery != "" {
			s = append(s, u.RawQuery)
		}
	}
	return s
}
