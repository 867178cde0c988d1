package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulse-monitor/pulse/pkg/store"
)

// An address stored by another way than the CLI's checks (the database
// is shared) is shown escaped: it never drives the terminal.
func TestSubscribersListIsTerminalSafe(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "pulse.toml")
	if err := os.WriteFile(cfgPath, []byte("[agent]\ndatabase = \"pulse.db\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "pulse.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AddSubscriber(context.Background(), store.SubscriberEmail, "ann"+hostile+"@example.com", false); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, args := range [][]string{{"subscribers", "list"}, {"subscribers", "remove", "1"}} {
		var out, errOut bytes.Buffer
		s := &IO{Out: &out, Err: &errOut, Getenv: func(string) (string, bool) { return "", false }}
		if code := Execute(context.Background(), s, append([]string{"--config", cfgPath}, args...)); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out.String(), errOut.String())
		}
		if strings.ContainsAny(out.String(), "\x1b\x07\u009b\u202e") || !strings.Contains(out.String(), `ann\x1b]0;pwned`) {
			t.Errorf("%v: address not escaped:\n%q", args, out.String())
		}
	}
}
