package cli

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulse-monitor/pulse/pkg/config"
)

func TestInitWritesAckKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pulse.toml")
	var out bytes.Buffer
	if err := runInit(&IO{Out: &out, Err: &out}, InitOptions{Path: path}); err != nil {
		t.Fatalf("init: %v", err)
	}
	keyPath := path + ".key"
	st, err := os.Stat(keyPath)
	if err != nil {
		t.Fatalf("init wrote no key: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	raw, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("key is not base64: %v", err)
	}
	if len(key) < 32 {
		t.Fatalf("key has %d bytes, want at least 32", len(key))
	}
	if bytes.Count(key, []byte{0}) == len(key) {
		t.Fatal("key is all zeros")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "\nsecret_file = \"pulse.toml.key\"") {
		t.Errorf("config does not set secret_file to the key's base name:\n%s", data)
	}
	if !strings.Contains(string(data), "# public_url = ") {
		t.Errorf("config lost the commented public_url line")
	}
	if !strings.Contains(out.String(), keyPath) {
		t.Errorf("init output %q does not name the key file", out.String())
	}

	// The config validates from another working directory: secret_file is
	// resolved against the config's folder, and the key is the one written.
	t.Chdir(t.TempDir())
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("written config does not load: %v", err)
	}
	if got := []byte(cfg.Agent.AckKey.Reveal()); !bytes.Equal(got, key) {
		t.Errorf("loaded ack key %x, want the %d bytes written %x", got, len(key), key)
	}

	// A second key for another config keeps its own bytes.
	path2 := filepath.Join(dir, "other.toml")
	if err := runInit(&IO{Out: &out, Err: &out}, InitOptions{Path: path2}); err != nil {
		t.Fatalf("second init: %v", err)
	}
	raw2, _ := os.ReadFile(path2 + ".key")
	if bytes.Equal(raw, raw2) {
		t.Error("two inits wrote the same key")
	}
}

func TestInitRefusesExistingKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pulse.toml")
	if err := os.WriteFile(path+".key", []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := runInit(&IO{Out: &out, Err: &out}, InitOptions{Path: path})
	if err == nil || !strings.Contains(err.Error(), "pulse.toml.key already exists; not overwriting it") {
		t.Fatalf("init over an existing key: err %v", err)
	}
	if b, _ := os.ReadFile(path + ".key"); string(b) != "keep me\n" {
		t.Errorf("existing key overwritten: %q", b)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("config written although the key was refused")
	}
}

func TestInitKeyUnwritable(t *testing.T) {
	dir := t.TempDir()
	// A config name the file system takes (255 bytes) whose key name
	// (+".key") it refuses: the key cannot be written, whoever runs the test.
	path := filepath.Join(dir, strings.Repeat("p", 250)+".toml")
	var out bytes.Buffer
	err := runInit(&IO{Out: &out, Err: &out}, InitOptions{Path: path})
	if err == nil {
		t.Fatal("init succeeded without writing its key")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "write ack-link key: ") || !strings.Contains(msg, "file name too long") {
		t.Errorf("error %q: want one line naming the key and the cause", msg)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		t.Errorf("init left %s behind", e.Name())
	}
}
