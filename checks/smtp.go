package checks

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// smtpCheck talks to a mail server the way a sending server does (RFC 5321
// greeting and EHLO, RFC 3207 STARTTLS) and judges the certificate it
// presents like the tls check. Port 465 speaks TLS from the first byte
// (RFC 8314 "implicit TLS"); any other port must offer STARTTLS, because a
// mail server that stopped offering it sends mail in the clear.
type smtpCheck struct {
	*tlsCheck
	implicit bool
}

// smtpHelo is the name the check gives in EHLO: a reserved name (RFC 2606),
// so no server mistakes the probe for a real client of its own.
const smtpHelo = "pulse.invalid"

var _ Checker = (*smtpCheck)(nil)

// smtpReadMax bounds what is read of one conversation: a server that
// streams an endless greeting must not grow the agent's memory.
const smtpReadMax = 64 << 10

func newSMTP(c *config.Check, env *Env) (Checker, error) {
	t, err := newTLS(c, env)
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(c.Address) // newTLS checked it
	return &smtpCheck{tlsCheck: t.(*tlsCheck), implicit: port == "465"}, nil
}

// Run connects, reads the greeting, says EHLO, upgrades with STARTTLS (or
// starts with TLS on 465), judges the certificate, and says QUIT. The
// latency is the time to the finished handshake, the part a sending server
// waits for before the first MAIL command.
func (k *smtpCheck) Run(ctx context.Context) Result {
	ctx, cancel := withDeadline(ctx, k.timeout)
	defer cancel()
	start := time.Now()
	raw, err := k.dialer.DialContext(ctx, "tcp", k.address)
	if err != nil {
		return Result{State: Crit, Message: "connect " + k.address + ": " + probeNetReason(ctx, err, time.Since(start)),
			Perf: probeTimePerf(time.Since(start))}
	}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl) // the reads below honour ctx only through it
	}
	fail := func(step string, err error) Result {
		return Result{State: Crit, Message: "smtp " + k.address + ": " + step + ": " + probeNetReason(ctx, err, time.Since(start)),
			Perf: probeTimePerf(time.Since(start))}
	}
	var conn net.Conn = raw
	var state tls.ConnectionState
	if k.implicit {
		tc := tls.Client(raw, k.config)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail("tls handshake", err)
		}
		conn, state = tc, tc.ConnectionState()
	}
	tp := smtpConn(conn)
	code, banner, err := tp.ReadResponse(220)
	if err != nil {
		return fail("greeting", smtpErr(code, banner, err))
	}
	if err := tp.PrintfLine("EHLO %s", smtpHelo); err != nil {
		return fail("EHLO", err)
	}
	code, ehlo, err := tp.ReadResponse(250)
	if err != nil {
		return fail("EHLO", smtpErr(code, ehlo, err))
	}
	if !k.implicit {
		if !offers(ehlo, "STARTTLS") {
			return Result{State: Crit, Message: "smtp " + k.address + " does not offer STARTTLS (greeting: " + oneLine(banner) + ")",
				Perf: probeTimePerf(time.Since(start))}
		}
		if err := tp.PrintfLine("STARTTLS"); err != nil {
			return fail("STARTTLS", err)
		}
		if code, msg, err := tp.ReadResponse(220); err != nil {
			return fail("STARTTLS", smtpErr(code, msg, err))
		}
		tc := tls.Client(raw, k.config)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail("tls handshake", err)
		}
		state = tc.ConnectionState()
		tp = smtpConn(tc)
	}
	took := time.Since(start)
	// QUIT is a courtesy: a server that hangs up first is still healthy.
	if tp.PrintfLine("QUIT") == nil {
		_, _, _ = tp.ReadResponse(221)
	}
	res := k.judge(state.PeerCertificates, took)
	if res.State == OK || res.State == Warn {
		res.Message += " (" + oneLine(banner) + ")"
	}
	return res
}

// smtpText is one SMTP conversation's reader and writer.
type smtpText struct {
	*textproto.Reader
	*textproto.Writer
}

// smtpConn reads at most smtpReadMax of conn.
func smtpConn(conn net.Conn) smtpText {
	return smtpText{
		Reader: textproto.NewReader(bufio.NewReader(io.LimitReader(conn, smtpReadMax))),
		Writer: textproto.NewWriter(bufio.NewWriter(conn)),
	}
}

// offers reports whether an EHLO reply (its lines after the first, the
// greeting) lists the extension ext.
func offers(ehlo, ext string) bool {
	lines := strings.Split(ehlo, "\n")
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], ext) {
			return true
		}
	}
	return false
}

// smtpErr words a bad reply: the server's code and text when it answered,
// the read error otherwise.
func smtpErr(code int, msg string, err error) error {
	var proto *textproto.Error
	if errors.As(err, &proto) {
		return errors.New(strconv.Itoa(proto.Code) + " " + oneLine(proto.Msg))
	}
	if code != 0 {
		return errors.New(oneLine(msg))
	}
	return err
}
