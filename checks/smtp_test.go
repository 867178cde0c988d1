package checks

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// nullBackend accepts sessions and no mail: the check never sends any.
type nullBackend struct{}

func (nullBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return nullSession{}, nil }

type nullSession struct{}

func (nullSession) Mail(string, *smtp.MailOptions) error { return nil }
func (nullSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (nullSession) Data(io.Reader) error                 { return nil }
func (nullSession) Reset()                               {}
func (nullSession) Logout() error                        { return nil }

// serveSMTP runs a real SMTP server (go-smtp) on 127.0.0.1: STARTTLS with
// cert when cert is set, and TLS from the first byte when implicit.
func serveSMTP(t *testing.T, cert *tls.Certificate, implicit bool) string {
	t.Helper()
	srv := smtp.NewServer(nullBackend{})
	srv.Domain = "mx.a.example"
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	var ln net.Listener
	var err error
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	if implicit {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// runSMTP builds an smtp check for addr (implicit TLS forced for a test
// port that is not 465) and runs it.
func runSMTP(t *testing.T, addr, caFile string, implicit bool) Result {
	t.Helper()
	c := &config.Check{Name: "mail", Type: "smtp", CAFile: caFile, KindFields: &config.KindFields{Address: addr, ServerName: "a.example"}}
	k, err := New(c, &Env{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if implicit {
		unwrapSMTP(t, k).implicit = true
	}
	return Run(context.Background(), c.Name, k, 5*time.Second, nil)
}

func unwrapSMTP(t *testing.T, k Checker) *smtpCheck {
	t.Helper()
	s, ok := k.(*smtpCheck)
	if !ok {
		t.Fatalf("checker is %T, want *smtpCheck", k)
	}
	return s
}

func TestSMTPCheck(t *testing.T) {
	ca := newTestCA(t)
	day := 24 * time.Hour
	good := ca.leaf(t, validFor(90*day))
	soon := ca.leaf(t, validFor(3*day))
	tests := []struct {
		name     string
		cert     *tls.Certificate
		implicit bool
		caFile   string
		state    State
		msg      []string // substrings of the message
	}{
		{name: "starttls, valid certificate", cert: &good, caFile: ca.file, state: OK,
			msg: []string{"a.example: certificate expires in 90d", "(mx.a.example ESMTP"}},
		{name: "implicit tls (port 465)", cert: &good, implicit: true, caFile: ca.file, state: OK,
			msg: []string{"a.example: certificate expires in 90d"}},
		{name: "starttls, certificate within crit_days", cert: &soon, caFile: ca.file, state: Crit,
			msg: []string{"certificate expires in 3d", "within 7d"}},
		{name: "starttls, untrusted certificate", cert: &good, state: Crit,
			msg: []string{"certificate signed by unknown authority"}},
		{name: "no STARTTLS offered", state: Crit,
			msg: []string{"does not offer STARTTLS", "mx.a.example ESMTP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serveSMTP(t, tt.cert, tt.implicit)
			res := runSMTP(t, addr, tt.caFile, tt.implicit)
			if res.State != tt.state {
				t.Fatalf("state %s (%q), want %s", res.State, res.Message, tt.state)
			}
			for _, m := range tt.msg {
				if !strings.Contains(res.Message, m) {
					t.Errorf("message %q, want it to contain %q", res.Message, m)
				}
			}
		})
	}
}

// rawSMTP serves each connection with fn on 127.0.0.1.
func rawSMTP(t *testing.T, fn func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				fn(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestSMTPCheckHostileServers(t *testing.T) {
	t.Run("refused greeting", func(t *testing.T) {
		addr := rawSMTP(t, func(c net.Conn) { _, _ = io.WriteString(c, "554 5.3.2 no service here\r\n") })
		res := runSMTP(t, addr, "", false)
		if res.State != Crit || !strings.Contains(res.Message, "greeting") || !strings.Contains(res.Message, "554 5.3.2 no service here") {
			t.Errorf("got %s %q, want crit naming the greeting and the server's answer", res.State, res.Message)
		}
	})
	t.Run("STARTTLS refused", func(t *testing.T) {
		addr := rawSMTP(t, func(c net.Conn) {
			_, _ = io.WriteString(c, "220 mx ESMTP\r\n")
			buf := make([]byte, 512)
			_, _ = c.Read(buf) // EHLO
			_, _ = io.WriteString(c, "250-mx\r\n250 STARTTLS\r\n")
			_, _ = c.Read(buf) // STARTTLS
			_, _ = io.WriteString(c, "454 4.7.0 TLS not available\r\n")
		})
		res := runSMTP(t, addr, "", false)
		if res.State != Crit || !strings.Contains(res.Message, "STARTTLS: 454 4.7.0 TLS not available") {
			t.Errorf("got %s %q", res.State, res.Message)
		}
	})
	t.Run("endless greeting is cut off", func(t *testing.T) {
		addr := rawSMTP(t, func(c net.Conn) {
			_, _ = io.WriteString(c, "220-")
			line := strings.Repeat("x", 4096)
			for range 1024 { // 4 MiB, far past what the check reads
				if _, err := io.WriteString(c, line); err != nil {
					return
				}
			}
		})
		res := runSMTP(t, addr, "", false)
		if res.State != Crit || !strings.Contains(res.Message, "greeting") {
			t.Errorf("got %s %q, want crit on the greeting", res.State, res.Message)
		}
	})
	t.Run("silent server times out", func(t *testing.T) {
		addr := rawSMTP(t, func(c net.Conn) { _, _ = c.Read(make([]byte, 1)) })
		c := &config.Check{Name: "mail", Type: "smtp", KindFields: &config.KindFields{Address: addr}}
		k, err := New(c, &Env{})
		if err != nil {
			t.Fatal(err)
		}
		res := Run(context.Background(), c.Name, k, 300*time.Millisecond, nil)
		if res.State != Crit {
			t.Errorf("got %s %q, want crit", res.State, res.Message)
		}
	})
}

func TestSMTPImplicitOnPort465(t *testing.T) {
	for addr, want := range map[string]bool{"mail.example:465": true, "mail.example:587": false, "mail.example:25": false} {
		k, err := New(&config.Check{Name: "mail", Type: "smtp", KindFields: &config.KindFields{Address: addr}}, &Env{})
		if err != nil {
			t.Fatal(err)
		}
		if got := unwrapSMTP(t, k).implicit; got != want {
			t.Errorf("%s: implicit = %v, want %v", addr, got, want)
		}
	}
}
