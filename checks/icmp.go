package checks

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// icmpCheck pings a host: icmpCount echo requests icmpGap apart, judged by
// the share lost (warn_if, crit_if) and the mean round trip
// (expect.latency). It uses an unprivileged ICMP socket where the kernel
// allows one (net.ipv4.ping_group_range), a raw socket otherwise (root or
// CAP_NET_RAW), and says which to grant when neither is allowed.
type icmpCheck struct {
	host     string
	warn     config.Threshold
	crit     config.Threshold
	latency  time.Duration
	timeout  time.Duration
	resolver *net.Resolver
}

var _ Checker = (*icmpCheck)(nil)

const (
	icmpCount = 5
	icmpGap   = 200 * time.Millisecond
	// icmpWait is how long the last request's answer is waited for when
	// the check's timeout leaves room.
	icmpWait = time.Second
)

// Default packet-loss thresholds, those of Nagios' check_ping examples.
const (
	icmpDefaultWarn = ">= 20"
	icmpDefaultCrit = ">= 60"
)

func newICMP(c *config.Check, env *Env) (Checker, error) {
	if c.Address == "" {
		return nil, fmt.Errorf("check %q: address is required", c.Name)
	}
	k := &icmpCheck{host: c.Address, warn: c.WarnIf, crit: c.CritIf, latency: c.Expected().Latency.D(),
		timeout: c.Timeout.D(), resolver: net.DefaultResolver}
	if !k.warn.IsSet() {
		k.warn, _ = config.ParseThreshold(icmpDefaultWarn)
	}
	if !k.crit.IsSet() {
		k.crit, _ = config.ParseThreshold(icmpDefaultCrit)
	}
	return k, nil
}

// Run resolves the host, sends the requests and collects the replies.
func (k *icmpCheck) Run(ctx context.Context) Result {
	ctx, cancel := withDeadline(ctx, k.timeout)
	defer cancel()
	ip, err := k.resolve(ctx)
	if err != nil {
		return Result{State: Crit, Message: "resolve " + k.host + ": " + probeNetReason(ctx, err, 0)}
	}
	conn, dst, proto, err := listenICMP(ip)
	if err != nil {
		return Result{State: Unknown, Message: "ping " + k.host + ": " + err.Error()}
	}
	defer conn.Close()
	rtts, err := k.ping(ctx, conn, dst, ip, proto)
	if err != nil {
		return Result{State: Unknown, Message: "ping " + k.host + ": " + err.Error()}
	}
	return k.judge(ip, rtts)
}

func (k *icmpCheck) resolve(ctx context.Context) (net.IP, error) {
	if ip := net.ParseIP(k.host); ip != nil {
		return ip, nil
	}
	addrs, err := k.resolver.LookupIPAddr(ctx, k.host)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs { // IPv4 first: the path most hosts are reached by
		if a.IP.To4() != nil {
			return a.IP, nil
		}
	}
	if len(addrs) == 0 {
		return nil, errors.New("no address")
	}
	return addrs[0].IP, nil
}

// listenICMP opens an ICMP socket for ip's family: unprivileged ("udp4"),
// else raw ("ip4:icmp"). dst is ip in the form the socket sends to.
func listenICMP(ip net.IP) (conn *icmp.PacketConn, dst net.Addr, proto int, err error) {
	udp, raw, wildcard, proto := "udp4", "ip4:icmp", "0.0.0.0", 1
	if ip.To4() == nil {
		udp, raw, wildcard, proto = "udp6", "ip6:ipv6-icmp", "::", 58
	}
	conn, err = icmp.ListenPacket(udp, wildcard)
	if err == nil {
		return conn, &net.UDPAddr{IP: ip}, proto, nil
	}
	if !errors.Is(err, os.ErrPermission) && !errors.Is(err, syscall.EPROTONOSUPPORT) {
		return nil, nil, 0, fmt.Errorf("open ICMP socket: %w", err)
	}
	conn, rawErr := icmp.ListenPacket(raw, wildcard)
	if rawErr == nil {
		return conn, &net.IPAddr{IP: ip}, proto, nil
	}
	return nil, nil, 0, errors.New("ICMP is not permitted to this process: add its group to " +
		"net.ipv4.ping_group_range (sysctl), or grant CAP_NET_RAW (systemd: AmbientCapabilities=CAP_NET_RAW)")
}

// ping sends icmpCount echo requests and returns the round trip of each
// answered one (0: lost). Replies are matched by a random token in their
// data, so another process's pings on a raw socket are never counted.
func (k *icmpCheck) ping(ctx context.Context, conn *icmp.PacketConn, dst net.Addr, ip net.IP, proto int) ([]time.Duration, error) {
	var token [8]byte
	_, _ = rand.Read(token[:])
	id := int(token[0])<<8 | int(token[1])
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if proto == 58 {
		typ = ipv6.ICMPTypeEchoRequest
	}
	var sent, arrived [icmpCount]time.Time // arrived: the reader's alone until done
	done := make(chan struct{})
	go func() { // the reader: until every request is answered or the deadline
		defer close(done)
		buf := make([]byte, 1500)
		got := 0
		for got < icmpCount {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			at := time.Now()
			if !sameHost(from, ip) {
				continue
			}
			m, err := icmp.ParseMessage(proto, buf[:n])
			if err != nil {
				continue
			}
			echo, ok := m.Body.(*icmp.Echo)
			if !ok || (m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply) ||
				len(echo.Data) < len(token) || string(echo.Data[:len(token)]) != string(token[:]) {
				continue
			}
			if seq := echo.Seq; seq >= 0 && seq < icmpCount && arrived[seq].IsZero() {
				arrived[seq] = at
				got++
			}
		}
	}()
	deadline := time.Now().Add(icmpCount*icmpGap + icmpWait)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetReadDeadline(deadline)
	var sendErr error
	for seq := range icmpCount {
		if seq > 0 {
			select {
			case <-ctx.Done():
			case <-done:
			case <-time.After(icmpGap):
			}
		}
		if ctx.Err() != nil {
			break
		}
		msg, _ := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: token[:]}}).Marshal(nil)
		sent[seq] = time.Now()
		if _, err := conn.WriteTo(msg, dst); err != nil && sendErr == nil {
			sendErr = err // unreachable networks fail here: counted as lost
		}
	}
	<-done
	rtts := make([]time.Duration, icmpCount)
	answered := false
	for i := range rtts {
		if !sent[i].IsZero() && !arrived[i].IsZero() {
			rtts[i], answered = max(arrived[i].Sub(sent[i]), time.Nanosecond), true
		}
	}
	if sendErr != nil && !answered && errors.Is(sendErr, os.ErrPermission) {
		return nil, fmt.Errorf("send: %w", sendErr)
	}
	return rtts, nil
}

// sameHost reports whether a reply's source is ip.
func sameHost(from net.Addr, ip net.IP) bool {
	switch a := from.(type) {
	case *net.UDPAddr:
		return a.IP.Equal(ip)
	case *net.IPAddr:
		return a.IP.Equal(ip)
	}
	return false
}

// judge applies crit_if, then warn_if to the share lost, then
// expect.latency to the mean round trip.
func (k *icmpCheck) judge(ip net.IP, rtts []time.Duration) Result {
	var sum, worst time.Duration
	answered := 0
	for _, d := range rtts {
		if d > 0 {
			answered++
			sum += d
			worst = max(worst, d)
		}
	}
	loss := 100 * float64(len(rtts)-answered) / float64(len(rtts))
	var res Result
	res.SetValue(loss)
	res.Perf = []Perf{{Label: "pl", Value: loss, UOM: "%", Warn: k.warn.String(), Crit: k.crit.String(), Min: "0", Max: "100"}}
	msg := k.host
	if k.host != ip.String() {
		msg += " (" + ip.String() + ")"
	}
	msg += ": " + strconv.FormatFloat(loss, 'f', 0, 64) + "% loss"
	if answered == 0 {
		res.State, res.Message = Crit, msg+", no reply to "+strconv.Itoa(len(rtts))+" requests"
		return res
	}
	mean := sum / time.Duration(answered)
	res.Perf = append(res.Perf, Perf{Label: "rta", Value: float64(mean.Microseconds()) / 1000, UOM: "ms"})
	msg += ", rtt " + probeDur(mean) + " mean, " + probeDur(worst) + " max"
	st, why := judgeThresholds(k.warn, k.crit, loss)
	res.State, res.Message = st, msg
	if st != OK {
		res.Message += " " + why
		return res
	}
	if k.latency > 0 && mean > k.latency {
		res.State, res.Message = Warn, msg+" (over "+probeDur(k.latency)+")"
	}
	return res
}
