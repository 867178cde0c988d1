package checks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/redact"
)

// scrubbed is the decorator New puts around a check whose definition holds
// secrets: its results' messages never show them, whatever produced the
// text (a driver's error quoting the DSN, a server echoing the
// Authorization header, a plugin printing its environment). Every surface
// after the Result (the database, incidents, the API, notifications, logs)
// gets the scrubbed text.
type scrubbed struct {
	Checker
	s *redact.Scrubber
}

// Run runs the check and scrubs its message; a panic's value is scrubbed
// too before checks.Run turns it into a message.
func (k scrubbed) Run(ctx context.Context) Result {
	defer func() {
		if p := recover(); p != nil {
			panic(k.s.Clean(fmt.Sprint(p)))
		}
	}()
	res := k.Checker.Run(ctx)
	res.Message = k.s.Clean(res.Message)
	return res
}

// scrubberFor returns a Scrubber for the secrets in c's definition, nil
// when it has none.
func scrubberFor(c *config.Check) *redact.Scrubber {
	ss := secretsOf(c)
	if len(ss) == 0 {
		return nil
	}
	s := redact.NewScrubber(ss...)
	if s.Len() == 0 {
		return nil
	}
	return s
}

// scrubErr returns err with s's secrets and any URL credentials removed
// from its text: constructor errors quote the definition (an invalid URL,
// a DSN the driver cannot parse). Its chain is kept when nothing changed.
func scrubErr(err error, s *redact.Scrubber) error {
	msg := s.Clean(err.Error())
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// plainHeaders are request headers whose values are no secret; every other
// configured header value is one (config reads them as Secret).
var plainHeaders = map[string]bool{
	"Accept": true, "Accept-Encoding": true, "Accept-Language": true, "Content-Type": true,
	"Content-Length": true, "User-Agent": true, "Host": true, "Cache-Control": true,
	"Connection": true, "Origin": true, "Referer": true, "Pragma": true,
}

// secretsOf lists the values in c that a message must never show: the
// URL's password (or a user name alone, often a token) and secret query
// values, every header value but plainHeaders', the basic_auth password
// and its base64 form, secret fields of a form-encoded body, the DSN and
// its password, and the values of command environment variables and
// arguments whose names say they hold a credential (redact.IsSecretKey).
func secretsOf(c *config.Check) []string {
	var ss []string
	add := func(v ...string) {
		for _, s := range v {
			if s != "" {
				ss = append(ss, s)
			}
		}
	}
	if h := c.HTTPFields; h != nil {
		add(urlSecrets(h.URL)...)
		for name, v := range h.Headers {
			if plainHeaders[http.CanonicalHeaderKey(name)] {
				continue
			}
			val := v.Reveal()
			add(val)
			// "Bearer TOKEN", "Basic BASE64": the credential alone too.
			if _, cred, ok := strings.Cut(val, " "); ok {
				add(strings.TrimSpace(cred))
			}
		}
		if b := h.BasicAuth; b != nil && b.Password != "" {
			add(b.Password.Reveal(), redact.BasicAuth(b.Username, b.Password.Reveal()))
		}
		if h.Body != "" {
			if form, err := url.ParseQuery(h.Body); err == nil {
				for k, vs := range form {
					if redact.IsSecretKey(k) {
						add(vs...)
					}
				}
			}
		}
	}
	if k := c.KindFields; k != nil {
		if k.DSN != "" {
			add(newSQLScrubber(k.Driver, k.DSN.Reveal()).secrets...)
			add(urlSecrets(k.DSN.Reveal())...)
		}
		for name, v := range k.Env {
			if redact.IsSecretKey(name) {
				add(v)
			}
			add(urlSecrets(v)...)
		}
		add(argSecrets(k.Command)...)
	}
	return ss
}

// urlSecrets returns the password (or lone user name) and the secret query
// values of raw, when it is a URL.
func urlSecrets(raw string) []string {
	if !strings.Contains(raw, "://") {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var ss []string
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			ss = append(ss, pw)
		} else {
			ss = append(ss, u.User.Username())
		}
	}
	for k, vs := range u.Query() {
		if redact.IsSecretKey(k) {
			ss = append(ss, vs...)
		}
	}
	return ss
}

// argSecrets returns the values of a command's --password=VALUE,
// --token VALUE and similar arguments.
func argSecrets(argv []string) []string {
	var ss []string
	for i, a := range argv {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, v, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !redact.IsSecretKey(name) {
			continue
		}
		if ok {
			ss = append(ss, v)
		} else if i+1 < len(argv) {
			ss = append(ss, argv[i+1])
		}
	}
	return ss
}
