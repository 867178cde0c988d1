package email

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/notifytest"
)

const password = "p4ssw0rd-v3ry-s3cr3t"

// backend is an in-process SMTP server that records what it accepts.
type backend struct {
	user, pass string // require AUTH PLAIN with these when user != ""
	rcptErr    error  // returned for every RCPT TO

	mu   sync.Mutex
	msgs []received
}

type received struct {
	from string
	to   []string
	data []byte
}

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{b: b}, nil }

func (b *backend) received() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type session struct {
	b      *backend
	authed bool
	cur    received
}

func (s *session) AuthMechanisms() []string {
	if s.b.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.b.user || pass != s.b.pass {
			// A careless server quoting the password back.
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication failed for " + user + "/" + pass}
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.cur = received{from: from}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.rcptErr != nil {
		return s.b.rcptErr
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = data
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

// serve starts the server on 127.0.0.1:0; with cert it offers STARTTLS, or
// speaks TLS from the first byte when implicit.
func serve(t *testing.T, be *backend, cert *tls.Certificate, implicit bool) int {
	t.Helper()
	srv := smtp.NewServer(be)
	srv.Domain = "mx.test"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	var l net.Listener
	var err error
	if cert != nil && implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*cert}})
	} else {
		if cert != nil {
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
		}
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func newNotifier(t *testing.T, cfg Config, opts notify.Options) *Notifier {
	t.Helper()
	cfg.Name, cfg.Host = "team", "127.0.0.1"
	cfg.From, cfg.To = "pulse@example.com", []string{"ops@example.com", "oncall@example.com"}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	n, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// parsed is a received email taken apart with net/mail and mime/multipart.
type parsed struct {
	header mail.Header
	types  []string
	bodies []string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	p := parsed{header: msg.Header}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		body, _ := io.ReadAll(part)
		p.types = append(p.types, ct)
		p.bodies = append(p.bodies, string(body))
	}
	return p
}

func TestGolden(t *testing.T) {
	batch := notifytest.Batch(3)
	for i := range batch {
		batch[i].Incident.Message = "check " + strconv.Itoa(i) + " failed: <timeout> & retry"
	}
	tests := []struct {
		name string
		msg  *notify.Message
	}{
		{"opened", notifytest.Message(notifytest.Item(alert.DeliverOpened))},
		{"acknowledged", notifytest.Message(notifytest.Item(alert.DeliverAcknowledged))},
		{"reminder", notifytest.Message(notifytest.Item(alert.DeliverReminder))},
		{"resolved", notifytest.Message(notifytest.Item(alert.DeliverResolved))},
		{"test", notifytest.TestMessage()},
		{"batch", notifytest.Message(batch...)},
		{"digest", notifytest.Digest()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mm, err := Render(tt.msg, notifytest.Options(nil))
			if err != nil {
				t.Fatal(err)
			}
			head := "Subject: " + mm.Subject + "\nMessage-ID: <" + mm.MessageID + ">\n"
			if mm.InReplyTo != "" {
				head += "In-Reply-To: <" + mm.InReplyTo + ">\n"
			}
			if len(mm.References) > 0 {
				head += "References: <" + strings.Join(mm.References, "> <") + ">\n"
			}
			notifytest.Golden(t, tt.name+".txt", []byte(head+"\n"+mm.Text))
			notifytest.Golden(t, tt.name+".html", []byte(mm.HTML))
		})
	}
}

func TestSubjects(t *testing.T) {
	batch := []notify.Item{notifytest.Item(alert.DeliverOpened), notifytest.Item(alert.DeliverOpened), notifytest.Item(alert.DeliverResolved)}
	batch[0].Incident.Severity, batch[1].Incident.Severity = "P2", "P2"
	tests := []struct {
		msg  *notify.Message
		want string
	}{
		{notifytest.Message(notifytest.Item(alert.DeliverOpened)), "[pulse] P1 OPEN api-health: status 503, expected 200 <html> & more"},
		{notifytest.Message(notifytest.Item(alert.DeliverRaised)), "[pulse] P1 RAISED api-health: status 503, expected 200 <html> & more"},
		{notifytest.Message(notifytest.Item(alert.DeliverResolved)), "[pulse] RESOLVED api-health (after 12m)"},
		{notifytest.Message(notifytest.Item(alert.DeliverAcknowledged)), "[pulse] P1 ACK api-health by alice"},
		{notifytest.Message(notifytest.Item(alert.DeliverReminder)), "[pulse] P1 REMINDER api-health: status 503, expected 200 <html> & more (open 12m)"},
		{notifytest.Message(notifytest.Item(alert.DeliverEscalated)), "[pulse] P1 ESCALATED api-health: status 503, expected 200 <html> & more (unacknowledged 12m)"},
		{notifytest.Message(batch...), "[pulse] 3 incidents: 2 P2 OPEN, 1 RESOLVED"},
		{notifytest.Digest(), "[pulse] digest 2026-11-24"},
		{notifytest.TestMessage(), "[pulse] test notification from edge-1.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			mm, err := Render(tt.msg, notifytest.Options(nil))
			if err != nil {
				t.Fatal(err)
			}
			if mm.Subject != tt.want {
				t.Fatalf("subject %q, want %q", mm.Subject, tt.want)
			}
		})
	}
}

func TestHTMLEscapes(t *testing.T) {
	it := notifytest.Item(alert.DeliverOpened)
	it.Incident.Message = `<script>alert(1)</script>`
	it.Check.Runbook = "javascript:alert(1)"
	mm, err := Render(notifytest.Message(it), notifytest.Options(nil))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(mm.HTML, "<script>") || strings.Contains(mm.HTML, `href="javascript:`) {
		t.Fatalf("HTML body carries live markup:\n%s", mm.HTML)
	}
}

// An opening alert and its resolve reach a real SMTP server; the resolve
// threads under the opening email.
func TestDeliveryAndThreading(t *testing.T) {
	be := &backend{}
	port := serve(t, be, nil, false)
	n := newNotifier(t, Config{Port: port, TLS: TLSNone}, notifytest.Options(nil))
	ctx := context.Background()
	if err := n.Send(ctx, notifytest.Message(notifytest.Item(alert.DeliverOpened))); err != nil {
		t.Fatalf("send opening: %v", err)
	}
	if err := n.Send(ctx, notifytest.Message(notifytest.Item(alert.DeliverResolved))); err != nil {
		t.Fatalf("send resolve: %v", err)
	}
	got := be.received()
	if len(got) != 2 {
		t.Fatalf("server received %d messages, want 2", len(got))
	}
	for _, r := range got {
		if r.from != "pulse@example.com" || strings.Join(r.to, ",") != "ops@example.com,oncall@example.com" {
			t.Fatalf("envelope from %q to %v", r.from, r.to)
		}
	}
	open, resolve := parse(t, got[0].data), parse(t, got[1].data)
	for name, p := range map[string]parsed{"opening": open, "resolve": resolve} {
		if strings.Join(p.types, ",") != "text/plain,text/html" {
			t.Errorf("%s parts %v, want text/plain then text/html", name, p.types)
		}
		if p.header.Get("Auto-Submitted") != "auto-generated" {
			t.Errorf("%s Auto-Submitted %q", name, p.header.Get("Auto-Submitted"))
		}
		if _, err := p.header.Date(); err != nil {
			t.Errorf("%s Date: %v", name, err)
		}
	}
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(open.header.Get("Subject"))
	if subject != "[pulse] P1 OPEN api-health: status 503, expected 200 <html> & more" {
		t.Errorf("opening subject %q", subject)
	}
	if !strings.Contains(open.bodies[0], "status 503, expected 200 <html> & more") ||
		!strings.Contains(open.bodies[1], "status 503, expected 200 &lt;html&gt; &amp; more") {
		t.Errorf("bodies do not carry the message (text escaped only in HTML):\n%s\n%s", open.bodies[0], open.bodies[1])
	}
	subject, _ = dec.DecodeHeader(resolve.header.Get("Subject"))
	if subject != "[pulse] RESOLVED api-health (after 12m)" {
		t.Errorf("resolve subject %q", subject)
	}
	openID := open.header.Get("Message-ID")
	if openID != "<pulse-edge-1-42@edge-1.example.com>" {
		t.Errorf("opening Message-ID %q", openID)
	}
	if resolve.header.Get("In-Reply-To") != openID || resolve.header.Get("References") != openID {
		t.Errorf("resolve In-Reply-To %q References %q, want %q", resolve.header.Get("In-Reply-To"), resolve.header.Get("References"), openID)
	}
	if resolve.header.Get("Message-ID") == openID {
		t.Error("resolve reuses the opening Message-ID")
	}
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	tests := []struct {
		name      string
		serverTLS bool
		implicit  bool
		mode      string
		wantErr   string
	}{
		{"starttls", true, false, TLSStartTLS, ""},
		{"implicit", true, true, TLSImplicit, ""},
		{"starttls required but not offered", false, false, TLSStartTLS, "does not offer STARTTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &backend{user: "pulse", pass: password}
			var c *tls.Certificate
			if tt.serverTLS {
				c = cert
			}
			port := serve(t, be, c, tt.implicit)
			n := newNotifier(t, Config{Port: port, TLS: tt.mode, Username: "pulse", Password: password,
				TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}, notifytest.Options(nil))
			err := n.Send(context.Background(), notifytest.TestMessage())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("send: %v", err)
				}
				if len(be.received()) != 1 {
					t.Fatal("message not received")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
			if notify.Retryable(err) {
				t.Error("a server without STARTTLS counted as a transient failure")
			}
			if len(be.received()) != 0 {
				t.Error("message delivered without TLS")
			}
		})
	}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name      string
		pass      config.Secret
		wantErr   bool
		retryable bool
	}{
		{"right password", password, false, false},
		{"wrong password", "wrong-" + password, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &backend{user: "pulse", pass: password}
			port := serve(t, be, nil, false)
			log, buf := notifytest.Logger()
			n := newNotifier(t, Config{Port: port, TLS: TLSNone, Username: "pulse", Password: tt.pass}, notifytest.Options(log))
			err := n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				var se *notify.SendError
				if !errors.As(err, &se) || se.Retryable != tt.retryable || se.Status != 535 {
					t.Fatalf("got %#v, want a permanent 535", err)
				}
			} else if len(be.received()) != 1 {
				t.Fatal("message not received")
			}
			notifytest.NoSecret(t, err, buf.String(), password)
		})
	}
}

func TestSMTPReplies(t *testing.T) {
	tests := []struct {
		name      string
		rcptErr   error
		status    int
		retryable bool
	}{
		{"451 transient", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}, 451, true},
		{"550 permanent", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, 550, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &backend{rcptErr: tt.rcptErr}
			port := serve(t, be, nil, false)
			n := newNotifier(t, Config{Port: port, TLS: TLSNone}, notifytest.Options(nil))
			err := n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
			var se *notify.SendError
			if !errors.As(err, &se) || se.Retryable != tt.retryable || se.Status != tt.status || se.Answer == "" {
				t.Fatalf("got %#v, want status %d retryable %v with the answer", err, tt.status, tt.retryable)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		log, buf := notifytest.Logger()
		n := newNotifier(t, Config{Port: port, TLS: TLSStartTLS, Username: "pulse", Password: password}, notifytest.Options(log))
		err = n.Send(context.Background(), notifytest.TestMessage())
		if err == nil || !notify.Retryable(err) {
			t.Fatalf("connection refused: %v, want retryable", err)
		}
		notifytest.NoSecret(t, err, buf.String(), password)
	})
}

// TestNewDefaults: New fills in and checks what a Config built in code
// leaves out (a loaded config has it from config.Load).
func TestNewDefaults(t *testing.T) {
	tests := []struct {
		name     string
		in       config.Notifier
		wantTLS  string
		wantPort int
		wantErr  string
	}{
		{"default starttls", config.Notifier{Host: "h", From: "a@b", To: []string{"c@d"}}, TLSStartTLS, 587, ""},
		{"465 is implicit", config.Notifier{Host: "h", Port: 465, From: "a@b", To: []string{"c@d"}}, TLSImplicit, 465, ""},
		{"none on 25", config.Notifier{Host: "h", TLS: "none", From: "a@b", To: []string{"c@d"}}, TLSNone, 25, ""},
		{"bad tls", config.Notifier{Host: "h", TLS: "ssl", From: "a@b", To: []string{"c@d"}}, "", 0, `tls "ssl"`},
		{"missing everything", config.Notifier{}, "", 0, "host is required; from is required; to is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Name = "team"
			n, err := New(ConfigFrom(&tt.in), notify.Options{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || n.cfg.TLS != tt.wantTLS || n.cfg.Port != tt.wantPort {
				t.Fatalf("got %+v %v", n, err)
			}
		})
	}
}

// hostileSMTP is a raw SMTP server (go-smtp hands a backend the decoded
// credential only) that offers mech and answers AUTH by quoting what the
// client sent: the base64 credential, or decoded when decode is set.
func hostileSMTP(t *testing.T, mech string, decode bool) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	quote := func(s string) string {
		if decode {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				return string(b)
			}
		}
		return s
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				say := func(s string) { _, _ = io.WriteString(c, s+"\r\n") }
				read := func() string { line, _ := r.ReadString('\n'); return strings.TrimRight(line, "\r\n") }
				say("220 mx.test ESMTP")
				for {
					line := read()
					cmd := strings.ToUpper(line)
					switch {
					case line == "":
						return
					case strings.HasPrefix(cmd, "EHLO"):
						say("250-mx.test")
						say("250 AUTH " + mech)
					case strings.HasPrefix(cmd, "AUTH PLAIN "):
						// Glued to a word, off base64's 4-byte alignment.
						say("535 5.7.8 x" + quote(line[len("AUTH PLAIN "):]))
					case strings.HasPrefix(cmd, "AUTH PLAIN"):
						say("334 ")
						say("535 5.7.8 " + quote(read()))
					case strings.HasPrefix(cmd, "AUTH LOGIN"):
						say("334 VXNlcm5hbWU6")
						user := read()
						say("334 UGFzc3dvcmQ6")
						pass := read()
						say("535 5.7.8 authentication failed for " + quote(user) + " with " + quote(pass))
					case strings.HasPrefix(cmd, "QUIT"):
						say("221 bye")
						return
					default:
						say("502 5.5.2 unknown command")
					}
				}
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// A server that answers AUTH by quoting the credential back (issue 14,
// item 11): neither the base64 the client sent nor the password decoded
// from it reaches the error, its Answer (what `pulse notify test` prints)
// or the logs.
func TestAuthEchoShowsNoCredential(t *testing.T) {
	secrets := []string{
		password,
		base64.StdEncoding.EncodeToString([]byte("\x00pulse\x00" + password)),
		base64.StdEncoding.EncodeToString([]byte(password)),
	}
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		for _, decode := range []bool{false, true} {
			t.Run(mech+map[bool]string{false: " base64", true: " decoded"}[decode], func(t *testing.T) {
				port := hostileSMTP(t, mech, decode)
				log, buf := notifytest.Logger()
				n := newNotifier(t, Config{Port: port, TLS: TLSNone, Username: "pulse", Password: password}, notifytest.Options(log))
				err := n.Send(context.Background(), notifytest.TestMessage())
				var se *notify.SendError
				if !errors.As(err, &se) || se.Status != 535 {
					t.Fatalf("got %#v, want the server's 535", err)
				}
				t.Logf("error: %v; answer: %q", err, se.Answer)
				notifytest.NoSecret(t, err, buf.String(), secrets...)
			})
		}
	}
}

func TestAckLink(t *testing.T) {
	mm, err := Render(notifytest.Message(notifytest.Item(alert.DeliverOpened)), notifytest.Options(nil))
	if err != nil {
		t.Fatal(err)
	}
	if line := "Acknowledge:     " + notifytest.AckURL + "\n"; !strings.Contains(mm.Text, line) {
		t.Errorf("text lacks the line %q:\n%s", line, mm.Text)
	}
	if a := `<a href="` + notifytest.AckURL + `">`; !strings.Contains(mm.HTML, a) {
		t.Errorf("HTML lacks the link %q:\n%s", a, mm.HTML)
	}
	for _, ev := range []string{alert.DeliverAcknowledged, alert.DeliverResolved} {
		mm, err := Render(notifytest.Message(notifytest.Item(ev)), notifytest.Options(nil))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(mm.Text+mm.HTML, "/ack/") || strings.Contains(mm.Text, "Acknowledge:") {
			t.Errorf("%s message carries an ack link", ev)
		}
	}
}
