package config

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
)

func TestSubscriptions(t *testing.T) {
	dir := t.TempDir()
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	if err := os.WriteFile(filepath.Join(dir, "pulse.key"), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const head = "[agent]\nlisten = \"127.0.0.1:9108\"\npublic_url = \"https://status.example.com\"\nsecret_file = \"pulse.key\"\n" +
		"[[notifier]]\nname = \"team\"\ntype = \"email\"\nhost = \"smtp.example.com\"\nfrom = \"pulse@example.com\"\nto = [\"ops@example.com\"]\n"

	cfg, err := parseString(t, dir, head+"[subscriptions]\nenabled = true\nemail_notifier = \"team\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Subscriptions
	eq(t, "Enabled", s.Enabled, true)
	eq(t, "EmailNotifier", s.EmailNotifier, "team")
	eq(t, "MaxPerHour", s.MaxPerHour, DefaultSubscriberMaxPerHour)
	eq(t, "SignupPerHour", s.SignupPerHour, DefaultSignupPerHour)

	cfg, err = parseString(t, dir, head+"[subscriptions]\nenabled = true\nmax_per_hour = 3\nsignup_per_hour = 2\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "MaxPerHour", cfg.Subscriptions.MaxPerHour, 3)
	eq(t, "SignupPerHour", cfg.Subscriptions.SignupPerHour, 2)
	eq(t, "EmailNotifier", cfg.Subscriptions.EmailNotifier, "")

	// Absent table: off, defaults still filled in.
	cfg, err = parseString(t, dir, head, nil)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "Enabled", cfg.Subscriptions.Enabled, false)
	eq(t, "MaxPerHour", cfg.Subscriptions.MaxPerHour, DefaultSubscriberMaxPerHour)

	_, err = parseString(t, dir, "[subscriptions]\nenabled = true\nbogus = 1\n", nil)
	if err == nil {
		t.Fatal("unknown key and missing listener accepted")
	}
	want := "pulse.toml:2: subscriptions: enabled: subscriptions need [agent].listen, [agent].public_url and [agent].secret_file"
	if !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if !bytes.Contains([]byte(err.Error()), []byte("bogus")) {
		t.Errorf("error %q does not name the unknown key", err)
	}
}
