// Package smtptest is an in-process SMTP server (go-smtp) on 127.0.0.1
// that keeps what it receives, for the tests of mail senders.
package smtptest

import (
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one message received.
type Mail struct {
	From string
	To   []string
	Data []byte
}

// Parse reads the message's headers and its body (undecoded MIME).
func (m Mail) Parse(t testing.TB) (*mail.Message, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		t.Fatalf("parse mail: %v\n%s", err, m.Data)
	}
	b, _ := io.ReadAll(msg.Body)
	return msg, string(b)
}

// Bodies returns the message's headers and its decoded text/plain and
// text/html parts (multipart/alternative or a single part).
func (m Mail) Bodies(t testing.TB) (h mail.Header, text, html string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		t.Fatalf("parse mail: %v\n%s", err, m.Data)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("content type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	put := func(ct, cte string, r io.Reader) {
		switch strings.ToLower(cte) {
		case "quoted-printable":
			r = quotedprintable.NewReader(r)
		case "base64":
			r = base64.NewDecoder(base64.StdEncoding, r)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("read part %s: %v", ct, err)
		}
		switch {
		case strings.HasPrefix(ct, "text/plain"):
			text = string(b)
		case strings.HasPrefix(ct, "text/html"):
			html = string(b)
		}
	}
	if !strings.HasPrefix(mt, "multipart/") {
		put(mt, msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		return msg.Header, text, html
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("mime part: %v", err)
		}
		put(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
	}
	return msg.Header, text, html
}

// Server is a running SMTP server.
type Server struct {
	Port int

	mu   sync.Mutex
	msgs []Mail
	got  chan struct{}
}

// Start runs a server (plain SMTP, no auth) until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{got: make(chan struct{}, 1024)}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.Port = l.Addr().(*net.TCPAddr).Port
	return s
}

// Received returns the messages so far.
func (s *Server) Received() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.msgs...)
}

// Wait waits until n messages in all were received or d passed, and
// returns them.
func (s *Server) Wait(n int, d time.Duration) []Mail {
	deadline := time.After(d)
	for {
		if got := s.Received(); len(got) >= n {
			return got
		}
		select {
		case <-s.got:
		case <-deadline:
			return s.Received()
		}
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s   *Server
	cur Mail
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error { x.cur.From = from; return nil }
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.cur.To = append(x.cur.To, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.cur.Data = data
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, x.cur)
	x.s.mu.Unlock()
	select {
	case x.s.got <- struct{}{}:
	default:
	}
	return nil
}

func (x *session) Reset()        { x.cur = Mail{} }
func (x *session) Logout() error { return nil }
