package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// tlsCheck handshakes with a server and judges its leaf certificate by the
// days it has left.
type tlsCheck struct {
	address    string
	serverName string
	roots      *x509.CertPool // nil: the system roots
	warnWithin time.Duration
	critWithin time.Duration
	latency    time.Duration
	timeout    time.Duration
	dialer     net.Dialer
	config     *tls.Config // built once; never mutated after construction
	warnDays   string      // warn_days and crit_days for the perfdata
	critDays   string
	now        func() time.Time
}

var _ Checker = (*tlsCheck)(nil)

// newTLS builds a tls check. warn_days and crit_days come defaulted (14, 7)
// from config.Load; a check built in code with both zero gets those defaults.
func newTLS(c *config.Check, env *Env) (Checker, error) {
	host, _, err := net.SplitHostPort(c.Address)
	if err != nil || host == "" {
		return nil, fmt.Errorf("check %q: address %q: want host:port", c.Name, c.Address)
	}
	warn, crit := c.WarnDays, c.CritDays
	if warn == 0 && crit == 0 {
		warn, crit = config.DefaultWarnDays, config.DefaultCritDays
	}
	if crit < 0 || warn < crit {
		return nil, fmt.Errorf("check %q: warn_days (%d) must be at least crit_days (%d), both not negative", c.Name, warn, crit)
	}
	k := &tlsCheck{
		address:    c.Address,
		serverName: c.ServerName,
		warnWithin: time.Duration(warn) * 24 * time.Hour,
		critWithin: time.Duration(crit) * 24 * time.Hour,
		latency:    c.Expected().Latency.D(),
		timeout:    c.Timeout.D(),
		now:        env.Now,
	}
	if k.serverName == "" {
		k.serverName = host
	}
	k.warnDays, k.critDays = strconv.Itoa(warn), strconv.Itoa(crit)
	if k.now == nil {
		k.now = time.Now
	}
	if c.CAFile != "" {
		if k.roots, err = loadCAFile(c.CAFile); err != nil {
			return nil, fmt.Errorf("check %q: ca_file: %w", c.Name, err)
		}
	}
	k.config = &tls.Config{
		ServerName:         k.serverName,
		InsecureSkipVerify: true, // verified in Run by verifyLeaf, which can name the leaf's dates
		MinVersion:         tls.VersionTLS10,
	}
	return k, nil
}

// Run handshakes without the library's verification so that the leaf of an
// expired or untrusted chain can still be read and named in the message;
// the chain is then verified here, against the injected clock.
func (k *tlsCheck) Run(ctx context.Context) Result {
	ctx, cancel := withDeadline(ctx, k.timeout)
	defer cancel()
	start := time.Now()
	raw, err := k.dialer.DialContext(ctx, "tcp", k.address)
	if err != nil {
		return Result{State: Crit, Message: "connect " + k.address + ": " + probeNetReason(ctx, err, time.Since(start)),
			Perf: probeTimePerf(time.Since(start))}
	}
	conn := tls.Client(raw, k.config)
	defer conn.Close()
	if err := conn.HandshakeContext(ctx); err != nil {
		return Result{State: Crit, Message: "tls handshake with " + k.address + ": " + probeNetReason(ctx, err, time.Since(start)),
			Perf: probeTimePerf(time.Since(start))}
	}
	return k.judge(conn.ConnectionState().PeerCertificates, time.Since(start))
}

// judge is the verdict on the chain a handshake that took took received:
// the tls check's and the smtp check's after STARTTLS.
func (k *tlsCheck) judge(certs []*x509.Certificate, took time.Duration) Result {
	if len(certs) == 0 {
		return Result{State: Crit, Message: k.address + " sent no certificate", Perf: probeTimePerf(took)}
	}
	now := k.now()
	leaf := certs[0]
	left := leaf.NotAfter.Sub(now)
	var res Result
	res.SetValue(left.Hours() / 24)
	res.Perf = []Perf{
		{Label: "days", Value: math.Round(left.Hours()/24*100) / 100, Warn: k.warnDays, Crit: k.critDays},
		probeTimePerf(took)[0],
	}
	if err := verifyLeaf(certs, k.serverName, k.roots, now); err != nil {
		res.State, res.Message = Crit, certProblem(err, now)
		return res
	}
	res.State, res.Message = certVerdict(leaf, now, k.warnWithin, k.critWithin)
	res.Message = k.serverName + ": " + res.Message
	if k.latency > 0 && took > k.latency && res.State == OK {
		res.State = Warn
		res.Message = probeSlow(took, k.latency) + " (" + res.Message + ")"
	}
	return res
}

// verifyLeaf verifies certs (leaf first, then what the server sent as
// intermediates) for serverName against roots (nil: the system pool) at now.
func verifyLeaf(certs []*x509.Certificate, serverName string, roots *x509.CertPool, now time.Time) error {
	opts := x509.VerifyOptions{
		DNSName:     serverName,
		Roots:       roots,
		CurrentTime: now,
	}
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	_, err := certs[0].Verify(opts)
	return err
}

// certVerdict judges a leaf certificate by the time it has left at now:
// crit when it is expired, not yet valid or expires within critWithin, warn
// within warnWithin, ok otherwise. The tls check and the http check's
// expect.cert_expiry (with critWithin 0) both decide here.
func certVerdict(leaf *x509.Certificate, now time.Time, warnWithin, critWithin time.Duration) (State, string) {
	if now.Before(leaf.NotBefore) {
		return Crit, fmt.Sprintf("certificate not valid until %s (in %s)", certDate(leaf.NotBefore), certSpan(leaf.NotBefore.Sub(now)))
	}
	left := leaf.NotAfter.Sub(now)
	switch {
	case left <= 0:
		return Crit, fmt.Sprintf("certificate expired %s ago (%s)", certSpan(-left), certDate(leaf.NotAfter))
	case left < critWithin:
		return Crit, fmt.Sprintf("certificate expires in %s (%s), within %s", certSpan(left), certDate(leaf.NotAfter), certSpan(critWithin))
	case left < warnWithin:
		return Warn, fmt.Sprintf("certificate expires in %s (%s), within %s", certSpan(left), certDate(leaf.NotAfter), certSpan(warnWithin))
	}
	return OK, fmt.Sprintf("certificate expires in %s (%s)", certSpan(left), certDate(leaf.NotAfter))
}

// certProblem says why a chain failed verification, without the "x509: "
// and "tls: " prefixes; an expired or not-yet-valid certificate is
// described by certVerdict so that both checks word it the same way.
func certProblem(err error, now time.Time) string {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil {
		if st, msg := certVerdict(invalid.Cert, now, 0, 0); st == Crit {
			return msg
		}
	}
	var host x509.HostnameError
	var unknown x509.UnknownAuthorityError
	var insecure x509.InsecureAlgorithmError
	switch {
	case errors.As(err, &host):
		return strings.TrimPrefix(host.Error(), "x509: ")
	case errors.As(err, &unknown):
		if unknown.Cert != nil && isSelfSigned(unknown.Cert) {
			return "certificate signed by unknown authority (self-signed)"
		}
		return "certificate signed by unknown authority"
	case errors.As(err, &invalid):
		return strings.TrimPrefix(invalid.Error(), "x509: ")
	case errors.As(err, &insecure):
		return strings.TrimPrefix(insecure.Error(), "x509: ")
	}
	msg := err.Error()
	for _, p := range []string{"tls: failed to verify certificate: ", "x509: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// isSelfSigned reports whether c names itself as issuer and its signature
// checks out with its own key (CheckSignatureFrom would also demand that c
// be a CA, which a self-signed server certificate usually is not).
func isSelfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// loadCAFile reads a PEM bundle into a fresh pool: like curl's --cacert, a
// ca_file replaces the system roots rather than adding to them.
func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("read CA bundle %s: no PEM certificate found", path)
	}
	return pool, nil
}

// certDate is how messages name a certificate's dates: a day in UTC.
func certDate(t time.Time) string { return t.UTC().Format("2006-01-02") }

// certSpan renders how far away a date is: "3d" from one day up (rounded to
// the nearest day, so a 90-day certificate issued a minute ago reads 90d),
// hours below that, minutes below an hour.
func certSpan(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd", int64(math.Round(d.Hours()/24)))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int64(d/time.Hour))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int64(d/time.Minute))
	}
	return fmt.Sprintf("%ds", int64(d/time.Second))
}
