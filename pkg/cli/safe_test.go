package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// hostile is what a monitored service may put in a message: an OSC that
// retitles the window ended by BEL, a CSI that clears the screen, the 8-bit
// CSI U+009B and a bidi override.
const hostile = "\x1b]0;pwned\x07\x1b[2J \u009b31m \u202egnp"

// regexpSGR matches the colour sequences pulse itself writes.
var regexpSGR = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestOutsideStringsAreTerminalSafe runs the commands that print what came
// from outside (plugin output, an HTTP body, an ack note, a silence reason)
// and checks that no control sequence reaches stdout raw, piped, with
// --no-color and with colour on a terminal (where pulse's own colours are
// the only escapes).
func TestOutsideStringsAreTerminalSafe(t *testing.T) {
	dir := t.TempDir()
	plugin := filepath.Join(dir, "plugin.sh")
	script := "#!/bin/sh\nprintf 'CRITICAL \\033]0;pwned\\007\\033[2J \\302\\233 31m \\342\\200\\256 gnp\\n'\nexit 2\n"
	if err := os.WriteFile(plugin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"status":"down %s"}`, hostile)
	}))
	t.Cleanup(srv.Close)
	cfg := fmt.Sprintf(`
[agent]
database = "pulse.db"
timezone = "UTC"

[[check]]
name = "plugin"
type = "command"
command = [%q]
severity = "P2"
fail_after = 1

[[check]]
name = "api"
type = "http"
url = %q
severity = "P2"
fail_after = 1
  [check.expect.json]
  status = "up"
`, plugin, srv.URL)
	cfgPath := filepath.Join(dir, "pulse.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	run := func(t *testing.T, tty bool, args ...string) (string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		s := &IO{Out: &out, Err: &errOut, TTY: tty, Getenv: func(string) (string, bool) { return "", false }}
		code := Execute(context.Background(), s, append([]string{"--config", cfgPath}, args...))
		return out.String(), code
	}
	if out, code := run(t, false, "run", "--once"); code != 0 {
		t.Fatalf("run --once: exit %d\n%s", code, out)
	}
	today := time.Now().UTC().Format("2006-01-02")
	evil := "ops" + hostile
	for _, args := range [][]string{
		{"ack", "1", "--by", evil, "--note", "looking " + hostile},
		{"silence", "add", "--check", "api", "--for", "1h", "--reason", "deploy " + hostile},
	} {
		if out, code := run(t, false, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
	}

	for _, tc := range []struct {
		args  []string
		code  int
		quiet bool // prints nothing from outside
	}{
		{args: []string{"check"}, code: 2},
		{args: []string{"check", "plugin"}, code: 2},
		{args: []string{"check", "api"}, code: 2},
		{args: []string{"incidents"}, code: 0},
		{args: []string{"incidents", "show", "1"}, code: 0},
		{args: []string{"incidents", "show", "2"}, code: 0},
		{args: []string{"ack", "1"}, code: 0}, // "already acknowledged by ..."
		{args: []string{"status"}, code: 0, quiet: true},
		{args: []string{"status", "--check", "plugin"}, code: 0},
		{args: []string{"status", "--check", "api"}, code: 0},
		{args: []string{"silence", "list"}, code: 0},
		{args: []string{"report", "--daily", "--date", today}, code: 0},
		{args: []string{"report", "--daily", "--date", today, "--format", "markdown"}, code: 0},
	} {
		for _, mode := range []struct {
			name  string
			tty   bool
			flags []string
		}{
			{"piped", false, nil},
			{"tty --no-color", true, []string{"--no-color"}},
			{"tty colour", true, nil},
		} {
			t.Run(strings.Join(tc.args, " ")+"/"+mode.name, func(t *testing.T) {
				out, code := run(t, mode.tty, append(mode.flags, tc.args...)...)
				if code != tc.code {
					t.Fatalf("exit %d, want %d\n%s", code, tc.code, out)
				}
				if mode.name == "tty colour" {
					// pulse's own SGR colours are the only escapes allowed.
					rest := regexpSGR.ReplaceAllString(out, "")
					if strings.ContainsAny(rest, "\x1b\x07\u009b\u202e") {
						t.Errorf("a raw control sequence reached the terminal:\n%q", out)
					}
				} else if strings.ContainsAny(out, "\x1b\x07\u009b\u202e") {
					t.Errorf("a raw control sequence reached the terminal:\n%q", out)
				}
				if !tc.quiet && (!strings.Contains(out, `\x1b`) || !strings.Contains(out, "pwned")) {
					t.Errorf("the hostile text is not shown escaped:\n%s", out)
				}
			})
		}
	}
}
