package checks

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// testCA is a throw-away certificate authority for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	file string // the CA certificate as a PEM file in t.TempDir()
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pulse test CA"},
		NotBefore:             time.Now().Add(-365 * 24 * time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.file = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca.file, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// leafSpec describes a server certificate: valid from notBefore to notAfter
// for the DNS names and 127.0.0.1.
type leafSpec struct {
	notBefore, notAfter time.Time
	dnsNames            []string
	selfSigned          bool // signed by its own key instead of the CA
}

// validFor is a leaf valid from a day ago until d from now.
func validFor(d time.Duration) leafSpec {
	return leafSpec{notBefore: time.Now().Add(-24 * time.Hour), notAfter: time.Now().Add(d), dnsNames: []string{"a.example"}}
}

func (ca *testCA) leaf(t *testing.T, s leafSpec) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "pulse test leaf"},
		NotBefore:    s.notBefore,
		NotAfter:     s.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     s.dnsNames,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	parent, signer := ca.cert, ca.key
	if s.selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serveTLS accepts TLS connections on 127.0.0.1 with cert until the test ends.
func serveTLS(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
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
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Read(make([]byte, 1)) // until the client hangs up
			}()
		}
	}()
	return ln.Addr().String()
}

// closedPort returns a 127.0.0.1 address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func runKind(t *testing.T, c *config.Check, env *Env, timeout time.Duration) Result {
	t.Helper()
	if env == nil {
		env = &Env{}
	}
	k, err := New(c, env)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return Run(context.Background(), c.Name, k, timeout, nil)
}

func TestTLSCheck(t *testing.T) {
	ca := newTestCA(t)
	day := 24 * time.Hour
	now := time.Now()
	other := newTestCA(t)

	tests := []struct {
		name       string
		cert       tls.Certificate
		serverName string
		caFile     string
		env        *Env
		state      State
		msg        string  // substring of the message
		days       float64 // expected value, ±0.1; NaN: no value
	}{
		{name: "valid 90 days", cert: ca.leaf(t, validFor(90*day)), serverName: "a.example", caFile: ca.file,
			state: OK, msg: "a.example: certificate expires in 90d (" + certDate(now.Add(90*day)) + ")", days: 90},
		{name: "server name defaults to the address host", cert: ca.leaf(t, validFor(90*day)), caFile: ca.file,
			state: OK, msg: "127.0.0.1: certificate expires in 90d", days: 90},
		{name: "expiring within warn_days", cert: ca.leaf(t, validFor(10*day)), serverName: "a.example", caFile: ca.file,
			state: Warn, msg: "certificate expires in 10d (" + certDate(now.Add(10*day)) + "), within 14d", days: 10},
		{name: "expiring in 3 days is within crit_days", cert: ca.leaf(t, validFor(3*day)), serverName: "a.example", caFile: ca.file,
			state: Crit, msg: "certificate expires in 3d (" + certDate(now.Add(3*day)) + "), within 7d", days: 3},
		{name: "expired", cert: ca.leaf(t, leafSpec{notBefore: now.Add(-90 * day), notAfter: now.Add(-3 * day), dnsNames: []string{"a.example"}}),
			serverName: "a.example", caFile: ca.file,
			state: Crit, msg: "certificate expired 3d ago (" + certDate(now.Add(-3*day)) + ")", days: -3},
		{name: "not yet valid", cert: ca.leaf(t, leafSpec{notBefore: now.Add(2 * day), notAfter: now.Add(90 * day), dnsNames: []string{"a.example"}}),
			serverName: "a.example", caFile: ca.file,
			state: Crit, msg: "certificate not valid until " + certDate(now.Add(2*day)) + " (in 2d)", days: 90},
		{name: "wrong host", cert: ca.leaf(t, validFor(90*day)), serverName: "b.example", caFile: ca.file,
			state: Crit, msg: "certificate is valid for a.example, not b.example", days: 90},
		{name: "self-signed", cert: ca.leaf(t, leafSpec{notBefore: now.Add(-day), notAfter: now.Add(90 * day), dnsNames: []string{"a.example"}, selfSigned: true}),
			serverName: "a.example", caFile: ca.file,
			state: Crit, msg: "certificate signed by unknown authority (self-signed)", days: 90},
		{name: "private CA without ca_file is untrusted", cert: ca.leaf(t, validFor(90*day)), serverName: "a.example",
			state: Crit, msg: "certificate signed by unknown authority", days: 90},
		{name: "another CA's bundle does not help", cert: ca.leaf(t, validFor(90*day)), serverName: "a.example", caFile: other.file,
			state: Crit, msg: "certificate signed by unknown authority", days: 90},
		{name: "injected clock 80 days on", cert: ca.leaf(t, validFor(90*day)), serverName: "a.example", caFile: ca.file,
			env:   &Env{Now: func() time.Time { return time.Now().Add(80 * day) }},
			state: Warn, msg: "certificate expires in 10d", days: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serveTLS(t, tt.cert)
			res := runKind(t, &config.Check{Name: "cert", Type: "tls", CAFile: tt.caFile, KindFields: &config.KindFields{Address: addr, ServerName: tt.serverName}}, tt.env, 5*time.Second)
			if res.State != tt.state || !strings.Contains(res.Message, tt.msg) {
				t.Fatalf("got %s %q, want %s containing %q", res.State, res.Message, tt.state, tt.msg)
			}
			if !res.HasValue || res.Value < tt.days-0.1 || res.Value > tt.days+0.1 {
				t.Errorf("value = %v (has %v), want %v days", res.Value, res.HasValue, tt.days)
			}
			if len(res.Perf) != 2 || res.Perf[0].Label != "days" || res.Perf[0].Warn != "14" || res.Perf[0].Crit != "7" || res.Perf[1].Label != "time" {
				t.Errorf("perf = %+v", res.Perf)
			}
		})
	}
}

func TestTLSCheckHandshakeFailures(t *testing.T) {
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	go func() {
		for {
			c, err := plain.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.0 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts (backlog) but never speaks
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	refused := closedPort(t)
	tests := []struct {
		name, addr string
		timeout    time.Duration
		msg        string
	}{
		{"not TLS", plain.Addr().String(), 5 * time.Second, "tls handshake with " + plain.Addr().String() + ": the server did not answer with TLS"},
		{"refused", refused, 5 * time.Second, "connect " + refused + ": connection refused"},
		{"silent server times out", silent.Addr().String(), 200 * time.Millisecond, "tls handshake with " + silent.Addr().String() + ": timed out after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runKind(t, &config.Check{Name: "cert", Type: "tls", KindFields: &config.KindFields{Address: tt.addr}}, nil, tt.timeout)
			if res.State != Crit || !strings.Contains(res.Message, tt.msg) {
				t.Fatalf("got %s %q, want crit containing %q", res.State, res.Message, tt.msg)
			}
			if res.Duration > tt.timeout+100*time.Millisecond {
				t.Errorf("took %s, timeout %s", res.Duration, tt.timeout)
			}
			if res.HasValue {
				t.Errorf("a failed handshake has no days left, got value %v", res.Value)
			}
		})
	}
}

func TestTLSConstructorErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    config.Check
		want string
	}{
		{"no port", config.Check{Name: "x", Type: "tls", KindFields: &config.KindFields{Address: "example.com"}}, "want host:port"},
		{"missing ca_file", config.Check{Name: "x", Type: "tls", CAFile: filepath.Join(dir, "nope.pem"), KindFields: &config.KindFields{Address: "a:443"}}, "no such file"},
		{"ca_file without certificates", config.Check{Name: "x", Type: "tls", CAFile: notPEM, KindFields: &config.KindFields{Address: "a:443"}}, "no PEM certificate found"},
		{"warn below crit", config.Check{Name: "x", Type: "tls", KindFields: &config.KindFields{Address: "a:443", WarnDays: 3, CritDays: 7}}, "warn_days (3) must be at least crit_days (7)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(&tt.c, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCertVerdict(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	leaf := func(from, to time.Duration) *x509.Certificate {
		return &x509.Certificate{NotBefore: now.Add(from), NotAfter: now.Add(to)}
	}
	tests := []struct {
		name       string
		cert       *x509.Certificate
		warn, crit time.Duration
		state      State
		msg        string
	}{
		{"expired 3 days ago", leaf(-90*day, -3*day), 14 * day, 7 * day, Crit, "certificate expired 3d ago (2026-11-23)"},
		{"expired an hour ago", leaf(-90*day, -time.Hour), 0, 0, Crit, "certificate expired 1h ago (2026-11-26)"},
		{"not yet valid", leaf(5*time.Hour, 90*day), 0, 0, Crit, "certificate not valid until 2026-11-26 (in 5h)"},
		{"within crit", leaf(-day, 3*day), 14 * day, 7 * day, Crit, "certificate expires in 3d (2026-11-29), within 7d"},
		{"within warn", leaf(-day, 10*day), 14 * day, 7 * day, Warn, "certificate expires in 10d (2026-12-06), within 14d"},
		{"http cert_expiry: only expiry is crit", leaf(-day, 3*day), 30 * day, 0, Warn, "certificate expires in 3d (2026-11-29), within 30d"},
		{"ok", leaf(-day, 90*day), 14 * day, 7 * day, OK, "certificate expires in 90d (2027-02-24)"},
		{"exactly at expiry is expired", leaf(-day, 0), 0, 0, Crit, "certificate expired 0s ago (2026-11-26)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, msg := certVerdict(tt.cert, now, tt.warn, tt.crit)
			if st != tt.state || msg != tt.msg {
				t.Fatalf("got %s %q, want %s %q", st, msg, tt.state, tt.msg)
			}
		})
	}
}

func TestCertProblemUnwrapsX509Errors(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	expired := &x509.Certificate{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"expired", &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Cert: expired, Reason: x509.Expired}}, "certificate expired 1d ago (2026-11-25)"},
		{"hostname", x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"a.example"}}, Host: "b.example"}, "certificate is valid for a.example, not b.example"},
		{"unknown authority", x509.UnknownAuthorityError{}, "certificate signed by unknown authority"},
		{"other", errors.New("x509: something else"), "something else"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error = tt.err
			if v, ok := tt.err.(*tls.CertificateVerificationError); ok {
				err = v.Err
			}
			if got := certProblem(err, now); got != tt.want {
				t.Fatalf("certProblem = %q, want %q", got, tt.want)
			}
		})
	}
}
