package config

import (
	"net/mail"
	"slices"
	"strconv"
)

// emailNotifier sends mail over SMTP.
var emailNotifier = notifierKind{
	keys:     []string{"host", "port", "tls", "username", "password", "from", "to"},
	digest:   true,
	defaults: emailDefaults,
	validate: validateEmail,
}

// emailDefaults: port 465 is implicit TLS by convention; any other port
// upgrades with STARTTLS unless tls says otherwise.
func emailDefaults(s scope, n *Notifier) {
	if !s.has("port") {
		n.Port = DefaultSMTPPort
	}
	if !s.has("tls") {
		n.TLS = "starttls"
		if n.Port == 465 {
			n.TLS = "implicit"
		}
	}
}

func validateEmail(s scope, n *Notifier) {
	s.required("host", n.Host != "")
	s.required("from", n.From != "")
	s.required("to", len(n.To) > 0)
	if n.Port < 1 || n.Port > 65535 {
		s.at("port", "must be from 1 to 65535")
	}
	if !slices.Contains([]string{"starttls", "implicit", "none"}, n.TLS) {
		s.at("tls", "unknown mode %q (use \"starttls\", \"implicit\" or \"none\")", n.TLS)
	}
	if n.From != "" {
		if _, err := mail.ParseAddress(n.From); err != nil {
			s.at("from", "invalid address %q", n.From)
		}
	}
	for j, to := range n.To {
		if _, err := mail.ParseAddress(to); err != nil {
			s.l.at(append(s.key("to"), strconv.Itoa(j)), "invalid address %q", to)
		}
	}
	if n.Password != "" && n.Username == "" {
		s.l.in(s.path, "password is set but username is not")
	}
}
