package checks

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// rdapServer answers RDAP domain queries for example.com (expiring at
// expires, with status) and 404 for any other name, as a registry does; it
// checks the path and Accept header of RFC 9082 / RFC 7480.
func rdapServer(t *testing.T, expires time.Time, status ...string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.Header.Get("Accept"), "application/rdap+json") {
			t.Errorf("request %s with Accept %q, want GET with application/rdap+json", r.Method, r.Header.Get("Accept"))
		}
		if r.URL.Path != "/rdap/domain/example.com" {
			http.NotFound(w, r)
			return
		}
		st := `["active"]`
		if len(status) > 0 {
			st = `["` + strings.Join(status, `","`) + `"]`
		}
		w.Header().Set("Content-Type", "application/rdap+json")
		// The shape of RFC 9083's domain object example, trimmed.
		fmt.Fprintf(w, `{"objectClassName":"domain","ldhName":"EXAMPLE.COM","status":%s,
			"events":[{"eventAction":"registration","eventDate":"1995-08-14T04:00:00Z"},
			{"eventAction":"expiration","eventDate":%q},
			{"eventAction":"last update of RDAP database","eventDate":"2026-12-01T00:00:00Z"}]}`,
			st, expires.UTC().Format(time.RFC3339))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func runDomain(t *testing.T, domain, base string) Result {
	t.Helper()
	c := &config.Check{Name: "dom", Type: "domain", KindFields: &config.KindFields{Address: domain}, HTTPFields: &config.HTTPFields{URL: base}}
	k, err := New(c, &Env{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return Run(context.Background(), c.Name, k, 5*time.Second, nil)
}

func TestDomainCheck(t *testing.T) {
	day := 24 * time.Hour
	now := time.Now()
	tests := []struct {
		name    string
		domain  string
		expires time.Time
		status  []string
		state   State
		msg     string
	}{
		{"a year left", "example.com", now.Add(365 * day), nil, OK, "example.com: registration expires in 365d (" + certDate(now.Add(365*day)) + ")"},
		{"within 30 days warns", "example.com", now.Add(20 * day), nil, Warn, "registration expires in 20d (" + certDate(now.Add(20*day)) + "), within 30d"},
		{"within 7 days is crit", "example.com", now.Add(3 * day), nil, Crit, "registration expires in 3d"},
		{"expired", "example.com", now.Add(-2 * day), nil, Crit, "registration expired 2d ago"},
		{"on hold", "example.com", now.Add(365 * day), []string{"client hold"}, Crit, "example.com: status client hold"},
		{"redemption period", "example.com", now.Add(365 * day), []string{"redemption period", "pending delete"}, Crit, "status redemption period"},
		{"upper case and a trailing dot", "Example.COM.", now.Add(365 * day), nil, OK, "example.com: registration expires in 365d"},
		{"not registered", "unknown-name.com", now, nil, Crit, "unknown-name.com: not registered (the registry answers 404)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := rdapServer(t, tt.expires, tt.status...)
			res := runDomain(t, tt.domain, srv.URL+"/rdap")
			if res.State != tt.state || !strings.Contains(res.Message, tt.msg) {
				t.Fatalf("got %s %q, want %s containing %q", res.State, res.Message, tt.state, tt.msg)
			}
		})
	}
}

func TestDomainCheckBadRegistry(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"no expiration event": func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"objectClassName":"domain","ldhName":"example.com","events":[]}`)
		},
		"rate limited": func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTooManyRequests) },
		"not json":     func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "<html>maintenance</html>") },
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			if res := runDomain(t, "example.com", srv.URL); res.State != Unknown {
				t.Errorf("got %s %q, want unknown (the registry, not the domain, failed)", res.State, res.Message)
			}
		})
	}
}

func TestDomainBootstrap(t *testing.T) {
	registry := rdapServer(t, time.Now().Add(100*24*time.Hour))
	var fetches atomic.Int32
	boot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		// RFC 9224's layout: [[suffixes], [base URLs]]; the longest
		// matching suffix wins.
		fmt.Fprintf(w, `{"version":"1.0","services":[
			[["net","com"],["https://rdap.invalid/"]],
			[["example.com"],["%s/rdap"]]]}`, registry.URL)
	}))
	defer boot.Close()
	k, err := New(&config.Check{Name: "dom", Type: "domain", KindFields: &config.KindFields{Address: "www.example.com"}}, &Env{})
	if err != nil {
		t.Fatal(err)
	}
	dc := k.(*domainCheck)
	dc.bootstrap = boot.URL
	dc.domain = "example.com" // the registry answers for this name
	for range 2 {
		res := Run(context.Background(), "dom", k, 5*time.Second, nil)
		if res.State != OK || !strings.Contains(res.Message, "registration expires in 100d") {
			t.Fatalf("got %s %q, want ok from the registry the bootstrap names", res.State, res.Message)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("bootstrap fetched %d times in one day, want 1", n)
	}
	if got := preferHTTPS([]string{"http://a/", "https://b/"}); got != "https://b/" {
		t.Errorf("preferHTTPS = %q, want the https URL", got)
	}
	other := &domainCheck{domain: "example.org", bootstrap: boot.URL, client: http.DefaultClient, now: time.Now}
	if _, err := other.registry(context.Background()); err == nil || !strings.Contains(err.Error(), "no RDAP server") {
		t.Errorf("unknown TLD: err = %v, want no RDAP server", err)
	}
}
