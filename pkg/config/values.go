package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones must resolve on hosts without /usr/share/zoneinfo
)

// Duration is a time.Duration that decodes from Go-style strings with days
// allowed ("90s", "15m", "2h", "30d", "1d12h").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d the way it would be written in the config.
func (d Duration) String() string {
	td := time.Duration(d)
	if td != 0 && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	out := td.String()
	// "1h0m0s" → "1h", "1m0s" → "1m": write it the way people do.
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}

// UnmarshalText parses a duration with an optional leading day count.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats d as in the config file.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// ParseDuration parses "30d", "1d12h", "90s" and every time.ParseDuration form.
// Negative durations are refused: no pulse setting means anything by them.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, errors.New("empty duration")
	}
	if strings.HasPrefix(in, "-") {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	var days time.Duration
	if i := strings.IndexByte(in, 'd'); i >= 0 {
		n, err := strconv.ParseUint(in[:i], 10, 32)
		if err != nil || i == 0 {
			return 0, fmt.Errorf("invalid duration %q (use e.g. \"90s\", \"15m\", \"2h\", \"30d\")", s)
		}
		if n > 100*365 {
			return 0, fmt.Errorf("invalid duration %q: too long", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		in = in[i+1:]
		if in == "" {
			return days, nil
		}
	}
	v, err := time.ParseDuration(in)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. \"90s\", \"15m\", \"2h\", \"30d\")", s)
	}
	if v < 0 || days+v < days {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return days + v, nil
}

// ByteSize is a size in bytes that decodes from "2GB", "512MiB", "1MB" or an integer.
type ByteSize int64

// UnmarshalText parses a size with an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB).
func (b *ByteSize) UnmarshalText(t []byte) error {
	v, err := ParseByteSize(string(t))
	if err != nil {
		return err
	}
	*b = ByteSize(v)
	return nil
}

// MarshalText formats b in bytes.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(b), 10)), nil }

// ParseByteSize parses "2GB" (10^9), "2GiB" (2^30), "100" (bytes).
func ParseByteSize(s string) (int64, error) {
	in := strings.TrimSpace(s)
	i := 0
	for i < len(in) && (in[i] >= '0' && in[i] <= '9' || in[i] == '.') {
		i++
	}
	num, unit := in[:i], strings.ToUpper(strings.TrimSpace(in[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("invalid size %q (use e.g. \"512MB\", \"2GB\")", s)
	}
	mult := map[string]float64{
		"": 1, "B": 1,
		"K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9, "T": 1e12, "TB": 1e12,
		"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q", s, in[i:])
	}
	v := f * mult
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return int64(v), nil
}

// Secret is a string that never prints its value: passwords, routing keys,
// webhook URLs, DSNs, header values. Use Reveal where the value is needed.
type Secret string

const redacted = "<secret>"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns "<secret>" (or "" for an empty secret).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.String() }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps encoders from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText stores the decoded value.
func (s *Secret) UnmarshalText(b []byte) error { *s = Secret(b); return nil }

// Format makes every fmt verb print "<secret>".
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// IntOrString is a key written either as a TOML integer or as a string,
// kept as the string: Telegram shows a chat id as a number
// (chat_id = -1001234567890), a channel as "@name". Other TOML types are
// refused with the key's FILE:LINE.
type IntOrString string

// UnmarshalTOML accepts an integer (formatted in decimal) or a string.
func (s *IntOrString) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		*s = IntOrString(strconv.FormatInt(x, 10))
		return nil
	case string:
		*s = IntOrString(x)
		return nil
	}
	return fmt.Errorf("expected an integer or a string, got %s", tomlType(v))
}

// String returns the value as a string.
func (s IntOrString) String() string { return string(s) }

// StatusMatcher is one element of expect.status: a code (200) or a class ("2xx").
type StatusMatcher struct {
	Code  int // exact code, or 0
	Class int // 1..5 for "1xx".."5xx", or 0
}

// Match reports whether code satisfies m.
func (m StatusMatcher) Match(code int) bool {
	if m.Class != 0 {
		return code/100 == m.Class
	}
	return code == m.Code
}

// String formats m as written in the config.
func (m StatusMatcher) String() string {
	if m.Class != 0 {
		return strconv.Itoa(m.Class) + "xx"
	}
	return strconv.Itoa(m.Code)
}

// UnmarshalTOML accepts an integer code or a "2xx"-style class (or a quoted code).
func (m *StatusMatcher) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 100 || x > 599 {
			return fmt.Errorf("invalid status %d: must be 100..599", x)
		}
		*m = StatusMatcher{Code: int(x)}
		return nil
	case string:
		s := strings.ToLower(strings.TrimSpace(x))
		if len(s) == 3 && s[1:] == "xx" && s[0] >= '1' && s[0] <= '5' {
			*m = StatusMatcher{Class: int(s[0] - '0')}
			return nil
		}
		if n, err := strconv.Atoi(s); err == nil && n >= 100 && n <= 599 {
			*m = StatusMatcher{Code: n}
			return nil
		}
		return fmt.Errorf("invalid status %q: use a code like 200 or a class like \"2xx\"", x)
	}
	return fmt.Errorf("invalid status %v: use a code like 200 or a class like \"2xx\"", v)
}

// MarshalText formats m as written in the config ("200", "2xx").
func (m StatusMatcher) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// ParseEvery reads the duration of an "@every" schedule as interval is read:
// days allowed, from 1s to MaxInterval. Give it to cron.Parse.
func ParseEvery(s string) (time.Duration, error) {
	d, err := ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if p := intervalProblem(d); p != "" {
		return 0, errors.New("the interval " + p)
	}
	return d, nil
}

// loadLocation resolves an IANA time zone name.
func loadLocation(name string) (*time.Location, error) {
	if strings.TrimSpace(name) == "" {
		return nil, errors.New("empty time zone (use an IANA name like \"Europe/Paris\" or \"UTC\")")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (use an IANA name like \"Europe/Paris\" or \"UTC\")", name)
	}
	return loc, nil
}
