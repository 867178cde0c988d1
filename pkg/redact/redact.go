// Package redact keeps credentials out of what pulse shows: check messages,
// logs, the database, the API and notifications. It imports nothing of
// pulse's, so that every layer (config, checks, notify, server) can use it.
//
// Two kinds of secret are removed. Those that look like one wherever they
// are: a URL's password (url.URL.Redacted) and the values of query
// parameters or key=value pairs whose key names a credential (IsSecretKey).
// And those that are known: a Scrubber replaces the values it was given
// (a check's header values, basic_auth password, DSN password...) wherever
// they appear, e.g. echoed back by a hostile server.
package redact

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Mask replaces a known secret in text.
const Mask = "<secret>"

// URLMask replaces a password or a secret query value inside a URL; it is
// what url.URL.Redacted writes for a password.
const URLMask = "xxxxx"

// secretKeyEnds are the endings (lower case) that make a query parameter,
// key=value pair, header or environment variable name a credential. An
// ending rather than a substring keeps counters such as "sessions=42" or
// "token_count=3" in a plugin's output, and paths such as password_file.
var secretKeyEnds = []string{
	"pass", "password", "passwd", "passphrase", "pwd", "secret", "token", "key",
	"sig", "signature", "auth", "authorization", "credential", "credentials",
	"cookie", "session", "sessionid", "session_id", "jwt", "bearer",
}

// IsSecretKey reports whether a parameter or variable named name holds a
// credential: its name ends, ignoring case, with pass, password, passwd,
// passphrase, pwd, secret, token, key, sig, signature, auth, authorization,
// credential(s), cookie, session, sessionid, session_id, jwt or bearer.
// That covers access_token, api_key, apikey, X-Api-Key, client_secret,
// PGPASSWORD, MYSQL_PWD and AWS's X-Amz-Signature, -Credential and
// -Security-Token. The list errs on the side of masking: a masked harmless
// value costs less than a shown password.
func IsSecretKey(name string) bool {
	n := strings.ToLower(name)
	for _, e := range secretKeyEnds {
		if strings.HasSuffix(n, e) {
			return true
		}
	}
	return false
}

// URL returns raw with its password and the values of its secret query
// (and fragment) parameters replaced by "xxxxx". A string that does not
// parse as a URL is scrubbed as Text.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return scrubLoose(cutPassword(raw))
	}
	u.RawQuery = maskQuery(u.RawQuery)
	if u.Fragment != "" && strings.Contains(u.Fragment, "=") {
		// OAuth's implicit flow puts access_token in the fragment.
		u.Fragment, u.RawFragment = maskQuery(u.EscapedFragment()), ""
		if f, err := url.PathUnescape(u.Fragment); err == nil {
			u.Fragment = f
		}
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), URLMask)
		} else if u.Scheme != "" && u.Host != "" && u.User.Username() != "" && u.Opaque == "" {
			// A user name alone may be a token (https://TOKEN@host).
			u.User = url.User(URLMask)
		}
	}
	return u.String()
}

// maskQuery masks the values of the secret keys of a raw query, keeping
// the order and encoding of the rest.
func maskQuery(q string) string {
	if q == "" || !strings.Contains(q, "=") {
		return q
	}
	parts := strings.Split(q, "&")
	changed := false
	for i, kv := range parts {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			continue
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if IsSecretKey(name) {
			parts[i], changed = k+"="+URLMask, true
		}
	}
	if !changed {
		return q
	}
	return strings.Join(parts, "&")
}

var (
	// urlInText finds URLs in free text (an error message quoting its
	// request, a redirect's Location): a scheme, "://", up to a space or
	// quote.
	urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>` + "`" + `]+`)
	// pairInText finds key=value pairs (DSNs in key/value form,
	// "password=..." in a driver's error, a query string without its URL).
	pairInText = regexp.MustCompile(`([A-Za-z0-9_.\-]+)(=)('[^']*'|"[^"]*"|[^\s&;,'"]+)`)
	// mysqlUserinfo finds go-sql-driver's user:password@tcp(host) form.
	mysqlUserinfo = regexp.MustCompile(`([^\s:@/"'(]*):([^\s@"']+)@(tcp|unix|udp|tcp6)\(`)
)

// Text returns s with every URL in it redacted as by URL, the values of
// its secret key=value pairs masked, and the password of a MySQL-style
// user:password@tcp(host) masked. Text without "=" or "@" (as most
// messages: "status 503, expected 2xx") is returned as is, at no cost.
func Text(s string) string {
	if !strings.ContainsAny(s, "=@") {
		return s
	}
	if strings.Contains(s, "://") {
		s = urlInText.ReplaceAllStringFunc(s, func(u string) string {
			// Punctuation after a URL ends the sentence, not the URL.
			trimmed := strings.TrimRight(u, ":,;.)]")
			return URL(trimmed) + u[len(trimmed):]
		})
	}
	return scrubLoose(s)
}

// cutPassword masks the password of a URL that does not parse: what runs
// from the first ':' after "://" to the last '@'.
func cutPassword(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw
	}
	rest := raw[i+3:]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	if user, _, ok := strings.Cut(rest[:at], ":"); ok {
		return raw[:i+3] + user + ":" + URLMask + rest[at:]
	}
	return raw
}

// scrubLoose masks secret key=value pairs and MySQL-style passwords.
func scrubLoose(s string) string {
	if strings.Contains(s, "@") {
		s = mysqlUserinfo.ReplaceAllString(s, "${1}:"+URLMask+"@${3}(")
	}
	if !strings.Contains(s, "=") {
		return s
	}
	return pairInText.ReplaceAllStringFunc(s, func(m string) string {
		sub := pairInText.FindStringSubmatch(m)
		if !IsSecretKey(sub[1]) || strings.HasPrefix(sub[3], URLMask) || strings.HasPrefix(sub[3], Mask) {
			return m
		}
		return sub[1] + sub[2] + URLMask
	})
}

// Scrubber removes known secret values from text, and everything Text
// removes. The zero value and nil only do what Text does.
type Scrubber struct {
	secrets []string // longest first
}

// minSecret is the shortest value a Scrubber replaces: replacing one or
// two characters everywhere would garble every message, and such a value
// is no secret worth the name.
const minSecret = 4

// NewScrubber returns a Scrubber for secrets. Each is also removed in its
// URL-escaped forms; empty and very short values are ignored.
func NewScrubber(secrets ...string) *Scrubber {
	var ss []string
	add := func(v string) {
		if len(v) >= minSecret && !slices.Contains(ss, v) {
			ss = append(ss, v)
		}
	}
	for _, s := range secrets {
		add(s)
		add(url.QueryEscape(s))
		add(url.PathEscape(s))
	}
	slices.SortStableFunc(ss, func(a, b string) int { return len(b) - len(a) })
	return &Scrubber{secrets: ss}
}

// Add returns a Scrubber that also removes more.
func (s *Scrubber) Add(more ...string) *Scrubber {
	if s == nil {
		return NewScrubber(more...)
	}
	return NewScrubber(append(slices.Clone(s.secrets), more...)...)
}

// Len returns how many secret values s replaces.
func (s *Scrubber) Len() int {
	if s == nil {
		return 0
	}
	return len(s.secrets)
}

// Clean returns msg with every known secret replaced by "<secret>", then
// scrubbed as by Text.
func (s *Scrubber) Clean(msg string) string {
	if s != nil {
		for _, sec := range s.secrets {
			if strings.Contains(msg, sec) {
				msg = strings.ReplaceAll(msg, sec, Mask)
			}
		}
	}
	return Text(msg)
}

// BasicAuth returns the base64 credential that HTTP basic auth (and SMTP
// AUTH PLAIN) send for user and password, for a Scrubber: a server that
// echoes the Authorization header must not show it.
func BasicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}
