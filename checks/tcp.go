package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// tcpCheck opens a TCP connection and closes it again.
type tcpCheck struct {
	address string
	latency time.Duration
	timeout time.Duration
	dialer  net.Dialer
}

var _ Checker = (*tcpCheck)(nil)

// newTCP builds a tcp check for address (host:port).
func newTCP(c *config.Check, env *Env) (Checker, error) {
	if host, port, err := net.SplitHostPort(c.Address); err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("check %q: address %q: want host:port", c.Name, c.Address)
	}
	return &tcpCheck{address: c.Address, latency: c.Expected().Latency.D(), timeout: c.Timeout.D()}, nil
}

// Run connects under ctx; slower than expect.latency is warn.
func (k *tcpCheck) Run(ctx context.Context) Result {
	ctx, cancel := withDeadline(ctx, k.timeout)
	defer cancel()
	start := time.Now()
	conn, err := k.dialer.DialContext(ctx, "tcp", k.address)
	took := time.Since(start)
	if err != nil {
		return Result{State: Crit, Message: "connect " + k.address + ": " + probeNetReason(ctx, err, took), Perf: probeTimePerf(took)}
	}
	_ = conn.Close()
	res := Result{State: OK, Message: "connected in " + probeDur(took), Perf: probeTimePerf(took)}
	if k.latency > 0 && took > k.latency {
		res.State = Warn
		res.Message = probeSlow(took, k.latency)
	}
	return res
}

// probeTimePerf is the "time" perfdata item (seconds) of the network checks.
func probeTimePerf(d time.Duration) []Perf {
	return []Perf{{Label: "time", Value: d.Seconds(), UOM: "s"}}
}

// probeSlow is the warn message of a probe slower than its expect.latency.
func probeSlow(took, limit time.Duration) string {
	a, b := probeDur(took), probeDur(limit)
	if a == b { // 500.4ms against 500ms must not read "500ms > 500ms"
		a = took.Round(time.Microsecond).String()
	}
	return "slow: " + a + " > " + b
}

// probeDur renders a latency for messages: "312µs", "42ms", "1.23s".
func probeDur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return d.String()
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// probeNetReason says in a few words why a dial, handshake or HTTP exchange
// failed: "connection refused", "timed out after 2s", "no such host", a
// certificate problem. ctx is the run's context, so that a deadline reads
// as a timeout whatever layer noticed it first.
func probeNetReason(ctx context.Context, err error, took time.Duration) string {
	var (
		dnsErr   *net.DNSError
		errno    syscall.Errno
		verify   *tls.CertificateVerificationError
		header   tls.RecordHeaderError
		alert    tls.AlertError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		netErr   net.Error
	)
	switch {
	case ctx.Err() == context.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return "timed out after " + probeDur(took)
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "resolve " + dnsErr.Name + ": no such host"
		}
		return "resolve " + dnsErr.Name + ": " + dnsErr.Err
	case errors.As(err, &verify):
		return certProblem(verify.Err, time.Now())
	case errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid):
		return certProblem(err, time.Now())
	case errors.As(err, &header):
		return "the server did not answer with TLS"
	case errors.As(err, &alert):
		return "tls alert from the server: " + strings.TrimPrefix(alert.Error(), "tls: ")
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the server"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	for _, p := range []string{"net/http: HTTP/1.x transport connection broken: ", "net/http: ", "remote error: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}
