package checks

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// grpcCheck asks a server the standard gRPC health question
// (grpc.health.v1.Health/Check, the protocol of gRPC's health-checking
// document that Kubernetes' grpc probes use) for one service or, with none
// named, the whole server.
//
// It speaks the call itself over net/http's HTTP/2 (a unary call is one
// POST: a 5-byte frame header and a protobuf message each way, the status
// in the trailers) instead of linking grpc-go: the library would add
// megabytes to the binary and to every agent's resident memory for one
// request and one enum. The tests call a real grpc-go health server.
type grpcCheck struct {
	endpoint string // https://host:port/grpc.health.v1.Health/Check or http://
	service  string
	host     string
	latency  time.Duration
	client   *http.Client
	request  []byte // the framed HealthCheckRequest, built once
}

var _ Checker = (*grpcCheck)(nil)

// grpcAnswerMax bounds what is read of an answer: a HealthCheckResponse is
// a few bytes.
const grpcAnswerMax = 64 << 10

func newGRPC(c *config.Check, env *Env) (Checker, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "grpc" && u.Scheme != "grpcs") || u.Host == "" || u.Port() == "" {
		return nil, fmt.Errorf("check %q: url: want grpc://host:port[/service] or grpcs://host:port[/service]", c.Name)
	}
	k := &grpcCheck{service: strings.Trim(u.Path, "/"), host: u.Host, latency: c.Expected().Latency.D()}
	tr := &http.Transport{Proxy: nil, ForceAttemptHTTP2: true, MaxIdleConns: 1, IdleConnTimeout: 5 * time.Minute}
	tr.Protocols = new(http.Protocols)
	scheme := "https"
	if u.Scheme == "grpc" {
		scheme = "http"
		tr.Protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge, as gRPC does
	} else {
		tr.Protocols.SetHTTP2(true)
		tr.TLSClientConfig = &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: c.InsecureSkipVerify, NextProtos: []string{"h2"}}
		if c.CAFile != "" {
			if tr.TLSClientConfig.RootCAs, err = loadCAFile(c.CAFile); err != nil {
				return nil, fmt.Errorf("check %q: ca_file: %w", c.Name, err)
			}
		}
	}
	k.endpoint = scheme + "://" + u.Host + "/grpc.health.v1.Health/Check"
	k.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	k.request = grpcFrame(healthRequest(k.service))
	return k, nil
}

// Run makes the call and judges the answer: ok when SERVING, crit when
// NOT_SERVING, unknown to the server, or the call fails.
func (k *grpcCheck) Run(ctx context.Context) Result {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.endpoint, bytes.NewReader(k.request))
	if err != nil {
		return Result{State: Unknown, Message: err.Error()}
	}
	req.Header.Set("Content-Type", "application/grpc+proto")
	req.Header.Set("TE", "trailers")
	req.Header.Set("User-Agent", "pulse")
	resp, err := k.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Result{State: Crit, Message: "grpc " + k.host + ": " + probeNetReason(ctx, err, time.Since(start)), Perf: probeTimePerf(time.Since(start))}
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, grpcAnswerMax))
	took := time.Since(start)
	crit := func(msg string) Result {
		return Result{State: Crit, Message: "grpc " + k.target() + ": " + msg, Perf: probeTimePerf(took)}
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/grpc") {
		return crit("not a gRPC answer (HTTP " + strconv.Itoa(resp.StatusCode) + ", " + resp.Header.Get("Content-Type") + ")")
	}
	if readErr != nil {
		return crit(probeNetReason(ctx, readErr, took))
	}
	// A call that failed answers "trailers only": the status is in the
	// headers; otherwise in the trailers after the body.
	code, msg := resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message")
	if code == "" {
		code, msg = resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message")
	}
	if msg, err = url.PathUnescape(msg); err != nil {
		msg = "" // percent-encoded per the gRPC spec; garbage is dropped
	}
	switch code {
	case "0":
	case "5":
		return crit("service unknown to the server (NOT_FOUND)")
	case "12":
		return crit("the server does not implement grpc.health.v1 (UNIMPLEMENTED)")
	case "":
		return crit("answer without a grpc-status")
	default:
		return crit("status " + code + " " + oneLine(msg))
	}
	status, err := healthStatus(body)
	if err != nil {
		return crit(err.Error())
	}
	res := Result{Perf: probeTimePerf(took)}
	switch status {
	case 1:
		res.State, res.Message = OK, "grpc "+k.target()+": SERVING"
		if k.latency > 0 && took > k.latency {
			res.State, res.Message = Warn, probeSlow(took, k.latency)+" ("+res.Message+")"
		}
	case 2:
		res.State, res.Message = Crit, "grpc "+k.target()+": NOT_SERVING"
	case 3:
		res.State, res.Message = Crit, "grpc "+k.target()+": SERVICE_UNKNOWN"
	default:
		res.State, res.Message = Unknown, "grpc "+k.target()+": status UNKNOWN ("+strconv.Itoa(status)+")"
	}
	return res
}

// target names what was asked: the service, or the server.
func (k *grpcCheck) target() string {
	if k.service == "" {
		return k.host
	}
	return k.host + " " + k.service
}

// healthRequest encodes HealthCheckRequest{service} (field 1, a string).
func healthRequest(service string) []byte {
	if service == "" {
		return nil
	}
	b := []byte{0x0a}
	b = binary.AppendUvarint(b, uint64(len(service)))
	return append(b, service...)
}

// grpcFrame prefixes msg with gRPC's message header: not compressed, and
// its length big-endian.
func grpcFrame(msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

// healthStatus decodes the one framed HealthCheckResponse in body and
// returns its status (field 1, an enum); absent means 0, UNKNOWN.
func healthStatus(body []byte) (int, error) {
	if len(body) < 5 {
		return 0, errors.New("empty gRPC answer")
	}
	if body[0] != 0 {
		return 0, errors.New("compressed gRPC answer (pulse asks for none)")
	}
	n := binary.BigEndian.Uint32(body[1:5])
	if int(n) > len(body)-5 {
		return 0, errors.New("truncated gRPC answer")
	}
	msg := body[5 : 5+n]
	status := 0
	for len(msg) > 0 {
		key, w := binary.Uvarint(msg)
		if w <= 0 {
			return 0, errors.New("malformed HealthCheckResponse")
		}
		msg = msg[w:]
		field, wire := key>>3, key&7
		switch wire {
		case 0: // varint
			v, w := binary.Uvarint(msg)
			if w <= 0 {
				return 0, errors.New("malformed HealthCheckResponse")
			}
			msg = msg[w:]
			if field == 1 {
				status = int(v)
			}
		case 2: // length-delimited: a field a newer server added
			l, w := binary.Uvarint(msg)
			if w <= 0 || uint64(len(msg)-w) < l {
				return 0, errors.New("malformed HealthCheckResponse")
			}
			msg = msg[w+int(l):]
		case 1:
			if len(msg) < 8 {
				return 0, errors.New("malformed HealthCheckResponse")
			}
			msg = msg[8:]
		case 5:
			if len(msg) < 4 {
				return 0, errors.New("malformed HealthCheckResponse")
			}
			msg = msg[4:]
		default:
			return 0, errors.New("malformed HealthCheckResponse")
		}
	}
	return status, nil
}
