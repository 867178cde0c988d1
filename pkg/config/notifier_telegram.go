package config

import (
	"regexp"
	"strings"
)

// DefaultTelegramAPI is the Bot API server a telegram notifier posts to
// unless api_url names another (a self-hosted server, a test).
const DefaultTelegramAPI = "https://api.telegram.org"

// telegramNotifier sends Bot API sendMessage requests.
var telegramNotifier = notifierKind{
	keys:     []string{"bot_token", "chat_id", "api_url"},
	digest:   true,
	defaults: telegramDefaults,
	validate: validateTelegram,
}

// telegramChatID is what sendMessage takes as chat_id: a numeric chat id
// (negative for groups and channels) or a public "@channelusername".
var telegramChatID = regexp.MustCompile(`^(-?[0-9]+|@[A-Za-z][A-Za-z0-9_]{3,})$`)

func telegramDefaults(s scope, n *Notifier) {
	if !s.has("api_url") {
		n.APIURL = DefaultTelegramAPI
	}
}

func validateTelegram(s scope, n *Notifier) {
	s.required("bot_token", n.BotToken != "")
	s.required("chat_id", n.ChatID != "")
	// The token becomes a path segment of the request URL: a slash or a
	// space would post somewhere else than the bot's sendMessage. The
	// message does not show the token.
	if n.BotToken != "" && strings.ContainsAny(n.BotToken.Reveal(), "/?#% \t\r\n") {
		s.at("bot_token", "must not contain '/', '?', '#', '%%' or spaces")
	}
	if n.ChatID != "" && !telegramChatID.MatchString(n.ChatID.String()) {
		s.at("chat_id", "invalid chat id %q: want a number (\"-1001234567890\") or \"@channelusername\"", n.ChatID)
	}
	if err := checkURL(n.APIURL, false); err != nil {
		s.at("api_url", "%v", err)
	}
}
