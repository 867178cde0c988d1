package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://user:S3cret@127.0.0.1:1/health?token=abc", "http://user:xxxxx@127.0.0.1:1/health?token=xxxxx"},
		{"https://h/p?a=1&API_KEY=k9&b=2&X-Amz-Signature=ff&sig=1", "https://h/p?a=1&API_KEY=xxxxx&b=2&X-Amz-Signature=xxxxx&sig=xxxxx"},
		{"https://h/p?access_token=t1&password=p&passwd=p&pwd=p&secret=s&credential=c&auth=a",
			"https://h/p?access_token=xxxxx&password=xxxxx&passwd=xxxxx&pwd=xxxxx&secret=xxxxx&credential=xxxxx&auth=xxxxx"},
		{"https://ghp_T0ken@github.com/x", "https://xxxxx@github.com/x"},
		{"https://h/cb#access_token=t1&state=2", "https://h/cb#access_token=xxxxx&state=2"},
		{"http://h:8080/health?verbose=1", "http://h:8080/health?verbose=1"},
		{"postgres://pulse:pgS3cret@127.0.0.1:1/db?sslmode=disable", "postgres://pulse:xxxxx@127.0.0.1:1/db?sslmode=disable"},
		{"http://u:p%zz@h/", "http://u:xxxxx@h/"}, // does not parse
	}
	for _, tt := range tests {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{`GET http://user:S3cret@127.0.0.1:1/health?token=abc: connection refused`, `GET http://user:xxxxx@127.0.0.1:1/health?token=xxxxx: connection refused`},
		{`Get "http://user:***@127.0.0.1:1/x?key=abc&q=1": dial tcp 127.0.0.1:1: connect: connection refused`,
			`Get "http://user:xxxxx@127.0.0.1:1/x?key=xxxxx&q=1": dial tcp 127.0.0.1:1: connect: connection refused`},
		{`cannot connect: host=db user=pulse password=pgS3cret dbname=x`, `cannot connect: host=db user=pulse password=xxxxx dbname=x`},
		{`bad dsn 'pulse:myS3cret@tcp(127.0.0.1:1)/db'`, `bad dsn 'pulse:xxxxx@tcp(127.0.0.1:1)/db'`},
		{`password='a b c' next`, `password=xxxxx next`},
		{"status 503, expected 2xx", "status 503, expected 2xx"},
		{"load=3.2 over 2", "load=3.2 over 2"},
		{"OK - sessions=42 token_count=3", "OK - sessions=42 token_count=3"},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestScrubber(t *testing.T) {
	s := NewScrubber("hdr-S3cret-value", "p@ss word", "", "ab")
	got := s.Clean("echo: hdr-S3cret-value p%40ss+word p@ss%20word p@ss word ab http://u:x@h/?token=1")
	for _, leak := range []string{"S3cret", "p@ss", "p%40ss", "token=1", "u:x@"} {
		if strings.Contains(got, leak) {
			t.Errorf("%q leaked in %q", leak, got)
		}
	}
	if !strings.Contains(got, " ab ") {
		t.Errorf("a two-letter value was masked: %q", got)
	}
	var nilS *Scrubber
	if got := nilS.Clean("http://u:pw@h/"); got != "http://u:xxxxx@h/" {
		t.Errorf("nil scrubber: %q", got)
	}
	if s2 := nilS.Add("longsecret"); s2.Clean("x longsecret") != "x <secret>" {
		t.Error("Add on nil")
	}
}

func TestIsSecretKey(t *testing.T) {
	for _, k := range []string{"token", "Access_Token", "PGPASSWORD", "MYSQL_PWD", "api_key", "apikey", "X-Api-Key", "Authorization", "signature", "sig", "client_secret", "X-Amz-Credential", "X-Amz-Security-Token", "Cookie", "AWS_SECRET_ACCESS_KEY", "passphrase"} {
		if !IsSecretKey(k) {
			t.Errorf("%q is not a secret key", k)
		}
	}
	for _, k := range []string{"PATH", "LANG", "verbose", "host", "user", "Accept", "Content-Type", "sessions", "token_count", "password_file", "keys"} {
		if IsSecretKey(k) {
			t.Errorf("%q is a secret key", k)
		}
	}
}
