package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTelegramAndNtfy: defaults, the *_file form of their secrets, keys of
// other types refused, and no token or topic in any error.
func TestTelegramAndNtfy(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tg"), []byte("123:tok-tg\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseString(t, dir, `
[[notifier]]
name = "phones"
type = "telegram"
bot_token_file = "tg"
chat_id = "@pulse_alerts"
[[notifier]]
name = "self"
type = "telegram"
bot_token = "${TG}"
chat_id = "-1001234567890"
api_url = "http://127.0.0.1:8081"
[[notifier]]
name = "push"
type = "ntfy"
topic = "${TOPIC}"
[[notifier]]
name = "push2"
type = "ntfy"
server = "https://ntfy.example.com"
topic = "ops_alerts-1"
token = "tk_tok-n"
`, map[string]string{"TG": "9:tok-env", "TOPIC": "pulse-topic"})
	if err != nil {
		t.Fatal(err)
	}
	tg := notifierByName(t, cfg, "phones")
	eq(t, "bot_token_file", tg.BotToken.Reveal(), "123:tok-tg")
	eq(t, "chat_id", tg.ChatID, "@pulse_alerts")
	eq(t, "default api_url", tg.APIURL, DefaultTelegramAPI)
	eq(t, "api_url", notifierByName(t, cfg, "self").APIURL, "http://127.0.0.1:8081")
	eq(t, "bot_token from env", notifierByName(t, cfg, "self").BotToken.Reveal(), "9:tok-env")
	push := notifierByName(t, cfg, "push")
	eq(t, "default server", push.Server, DefaultNtfyServer)
	eq(t, "topic from env", push.Topic.Reveal(), "pulse-topic")
	eq(t, "token", notifierByName(t, cfg, "push2").Token.Reveal(), "tk_tok-n")
	eq(t, "telegram gets the digest by default", strings.Contains(strings.Join(cfg.Report.Notify, ","), "phones"), true)

	_, err = parseString(t, dir, `
[[notifier]]
name = "phones"
type = "telegram"
bot_token = "1:tok-a b"
chat_id = "-100"
topic = "x"
[[notifier]]
name = "push"
type = "ntfy"
topic = "tok-b.with.dots"
chat_id = "-100"
`, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`notifier "phones": bot_token: must not contain`,
		`notifier "phones": key "topic" does not apply to type "telegram"`,
		`notifier "push": topic: want 1 to 64 letters`,
		`notifier "push": key "chat_id" does not apply to type "ntfy"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
	for _, s := range []string{"tok-a", "tok-b"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error shows secret %q:\n%s", s, err)
		}
	}
}

// TestIntegerChatID: Telegram shows a chat id as a number, so chat_id may be
// written as a TOML integer as well as a string; other TOML types get the
// key's line.
func TestIntegerChatID(t *testing.T) {
	cfg, err := parseString(t, t.TempDir(), `
[[notifier]]
name = "group"
type = "telegram"
bot_token = "1:tok"
chat_id = -1001234567890
[[notifier]]
name = "user"
type = "telegram"
bot_token = "1:tok"
chat_id = 42
[[notifier]]
name = "channel"
type = "telegram"
bot_token = "1:tok"
chat_id = "@pulse_alerts"
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "negative integer", notifierByName(t, cfg, "group").ChatID.String(), "-1001234567890")
	eq(t, "positive integer", notifierByName(t, cfg, "user").ChatID.String(), "42")
	eq(t, "string", notifierByName(t, cfg, "channel").ChatID.String(), "@pulse_alerts")

	for _, tc := range []struct{ value, got string }{
		{"true", "a boolean"},
		{"-100.5", "a float"},
		{"{ id = 1 }", "a table"},
		{"[-100]", "an array"},
	} {
		_, err := parseString(t, t.TempDir(), "[[notifier]]\nname = \"tg\"\ntype = \"telegram\"\nbot_token = \"1:tok\"\nchat_id = "+tc.value+"\n", nil)
		want := `:5: notifier "tg": chat_id: expected an integer or a string, got ` + tc.got
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("chat_id = %s: error %v, want it to contain %q", tc.value, err, want)
		}
	}
}
