package server

import (
	"bytes"
	"context"
	"flag"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// updateScreenshots rewrites docs/img/dash-*.png (the README's pictures);
// CI never sets it, so it never modifies the tree.
var updateScreenshots = flag.Bool("update-screenshots", false, "rewrite docs/img/dash-*.png from TestDashboardsInChromium")

// chromiumPath is the browser TestDashboardsInChromium drives: Debian's
// chromium, or another Chromium-based one on PATH.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestDashboardsInChromium loads both dashboards in a real headless
// Chromium from a loopback server with seeded data and checks what a
// browser makes of them: the title, a row per check, the charts, the deploy
// marker and a message with HTML shown as text, not run.
func TestDashboardsInChromium(t *testing.T) {
	bin := chromiumPath()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no chromium on PATH: CI installs it (.ci/run apt_pkgs)")
		}
		t.Skip("no chromium on PATH: apt-get install chromium to run this test")
	}
	f := newDashFixture(t, "")
	seedDash(t, f)
	ts := httptest.NewServer(f.srv.Handler()) // 127.0.0.1
	defer ts.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("hide-scrollbars", true),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first Run starts the browser, which lives as long as its context:
	// no timeout on that one, a timeout on what follows.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	type dom struct {
		Title      string `json:"title"`
		Scripts    int    `json:"scripts"`
		Svgs       int    `json:"svgs"`
		Rows       int    `json:"rows"`
		Groups     int    `json:"groups"`
		Markers    int    `json:"markers"`
		Annotation string `json:"annotation"`
		Incident   string `json:"incident"`
	}
	const probe = `({
		title: document.title,
		scripts: document.querySelectorAll("script").length,
		svgs: document.querySelectorAll("svg").length,
		rows: document.querySelectorAll("#checks tr.check").length,
		groups: document.querySelectorAll("#groups tr.group").length,
		markers: document.querySelectorAll("line.marker").length,
		annotation: (document.querySelector("#annotations tr.annotation.deploy td.msg") || {}).textContent || "",
		incident: (document.querySelector("#incidents td.msg") || {}).textContent || ""
	})`
	for _, page := range []struct {
		path, wait, shot string
		check            func(d dom)
	}{
		{"/dash/executive", "#groups", "dash-executive.png", func(d dom) {
			if d.Title != "Example <Co> · Executive dashboard" {
				t.Errorf("executive: title %q", d.Title)
			}
			if d.Groups != 4 {
				t.Errorf("executive: %d group rows, want 4", d.Groups)
			}
			if d.Svgs != 4+2+2 { // a chart per group and per metric, incidents, MTTA/MTTR
				t.Errorf("executive: %d svg charts, want 8", d.Svgs)
			}
		}},
		{"/dash/operations", "#checks", "dash-operations.png", func(d dom) {
			if d.Title != "Example <Co> · Operations dashboard" {
				t.Errorf("operations: title %q", d.Title)
			}
			if d.Rows != 5 {
				t.Errorf("operations: %d check rows, want 5", d.Rows)
			}
			if d.Svgs != 1+5+1 { // timeline, a latency chart per check, rps's throughput
				t.Errorf("operations: %d svg charts, want 7", d.Svgs)
			}
			if d.Markers != 7 {
				t.Errorf("operations: %d deploy markers, want 7", d.Markers)
			}
			if d.Annotation != evilMessage || d.Incident != evilMessage {
				t.Errorf("operations: the messages with HTML show as %q and %q, want the text %q", d.Annotation, d.Incident, evilMessage)
			}
		}},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+page.path), chromedp.WaitVisible(chromedp.CSS(page.wait))); err != nil {
			t.Fatalf("%s in chromium: %v", page.path, err)
		}
		d, err := chromedp.Run(ctx, chromedp.Evaluate[dom](probe))
		if err != nil {
			t.Fatalf("%s: evaluate: %v", page.path, err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", page.path, err)
		}
		if d.Scripts != 0 {
			t.Errorf("%s: %d script elements in the DOM", page.path, d.Scripts)
		}
		page.check(d)
		if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10_000 {
			t.Errorf("%s: screenshot of %d bytes is not a PNG of a page", page.path, len(png))
		}
		if *updateScreenshots {
			out := filepath.Join("..", "..", "docs", "img", page.shot)
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(out, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", out)
		}
	}
}
