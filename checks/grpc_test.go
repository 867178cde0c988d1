package checks

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// serveGRPCHealth runs grpc-go's own health server on 127.0.0.1 (TLS with
// cert when set) and returns its address and the server to set statuses on.
func serveGRPCHealth(t *testing.T, cert *tls.Certificate) (string, *health.Server) {
	t.Helper()
	var opts []grpc.ServerOption
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{*cert}})))
	}
	srv := grpc.NewServer(opts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), hs
}

func runGRPC(t *testing.T, url, caFile string) Result {
	t.Helper()
	c := &config.Check{Name: "rpc", Type: "grpc", CAFile: caFile, HTTPFields: &config.HTTPFields{URL: url}}
	k, err := New(c, &Env{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return Run(context.Background(), c.Name, k, 5*time.Second, nil)
}

func TestGRPCHealthCheck(t *testing.T) {
	addr, hs := serveGRPCHealth(t, nil)
	hs.SetServingStatus("shop.Cart", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("shop.Pay", healthpb.HealthCheckResponse_NOT_SERVING)
	tests := []struct {
		name  string
		url   string
		state State
		msg   string
	}{
		{"whole server serving", "grpc://" + addr, OK, "grpc " + addr + ": SERVING"},
		{"service serving", "grpc://" + addr + "/shop.Cart", OK, "shop.Cart: SERVING"},
		{"service not serving", "grpc://" + addr + "/shop.Pay", Crit, "shop.Pay: NOT_SERVING"},
		{"service unknown", "grpc://" + addr + "/shop.Nope", Crit, "service unknown to the server (NOT_FOUND)"},
		{"nothing listening", "grpc://" + closedPort(t), Crit, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runGRPC(t, tt.url, "")
			if res.State != tt.state || !strings.Contains(res.Message, tt.msg) {
				t.Fatalf("got %s %q, want %s containing %q", res.State, res.Message, tt.state, tt.msg)
			}
		})
	}
	// A status change is seen on the next run: nothing is cached.
	hs.SetServingStatus("shop.Pay", healthpb.HealthCheckResponse_SERVING)
	if res := runGRPC(t, "grpc://"+addr+"/shop.Pay", ""); res.State != OK {
		t.Errorf("after SERVING: got %s %q", res.State, res.Message)
	}
	hs.Shutdown() // every service NOT_SERVING, as on a graceful stop
	if res := runGRPC(t, "grpc://"+addr, ""); res.State != Crit || !strings.Contains(res.Message, "NOT_SERVING") {
		t.Errorf("after Shutdown: got %s %q", res.State, res.Message)
	}
}

func TestGRPCHealthCheckTLS(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.leaf(t, validFor(90*24*time.Hour))
	addr, _ := serveGRPCHealth(t, &cert)
	if res := runGRPC(t, "grpcs://"+addr, ca.file); res.State != OK {
		t.Fatalf("trusted: got %s %q, want ok", res.State, res.Message)
	}
	if res := runGRPC(t, "grpcs://"+addr, ""); res.State != Crit || !strings.Contains(res.Message, "certificate") {
		t.Fatalf("untrusted CA: got %s %q, want crit naming the certificate", res.State, res.Message)
	}
	if res := runGRPC(t, "grpc://"+addr, ""); res.State != Crit {
		t.Fatalf("plaintext against TLS: got %s %q, want crit", res.State, res.Message)
	}
}

func TestGRPCNotAGRPCServer(t *testing.T) {
	addr := serveTLS(t, newTestCA(t).leaf(t, validFor(time.Hour))) // TLS, then silence
	res := runGRPC(t, "grpc://"+addr, "")
	if res.State != Crit {
		t.Fatalf("got %s %q, want crit", res.State, res.Message)
	}
}

func TestHealthStatusDecoding(t *testing.T) {
	for name, tt := range map[string]struct {
		body   []byte
		status int
		err    string
	}{
		"serving":               {grpcFrame([]byte{0x08, 0x01}), 1, ""},
		"empty message UNKNOWN": {grpcFrame(nil), 0, ""},
		"unknown field skipped": {grpcFrame([]byte{0x12, 0x02, 'h', 'i', 0x08, 0x02}), 2, ""},
		"truncated":             {[]byte{0, 0, 0, 0, 9, 0x08}, 0, "truncated"},
		"compressed":            {[]byte{1, 0, 0, 0, 0}, 0, "compressed"},
		"garbage":               {grpcFrame([]byte{0x12, 0x7f}), 0, "malformed"},
	} {
		st, err := healthStatus(tt.body)
		if st != tt.status || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: got %d, %v; want %d, %q", name, st, err, tt.status, tt.err)
		}
	}
	if got := healthRequest("a.B"); string(got) != "\x0a\x03a.B" {
		t.Errorf("healthRequest = %q", got)
	}
}
