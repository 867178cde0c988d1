package ui

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Safe makes a string that came from outside pulse (a plugin's output, an
// HTTP body, a database value, a note or a receiver's answer) harmless on a
// terminal. Control characters (C0, DEL, C1 such as CSI U+009B), bidi
// embeddings, overrides and isolates, line and paragraph separators and
// bytes that are not UTF-8 become visible Go escapes (\x1b, \u202e, \n), so
// that none of them can retitle the window, clear or rewrite the screen,
// start a fake line or reorder what follows. It keeps no newline or tab:
// every caller prints one field of one line. DNS TXT values get the same
// escapes from strconv.Quote (checks/dns.go).
func Safe(s string) string {
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(hex2(s[i]))
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteString(hex2(byte(r)))
		case unsafeRune(r):
			b.WriteString(`\u`)
			h := strconv.FormatInt(int64(r), 16)
			b.WriteString(strings.Repeat("0", 4-len(h)) + h)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// unsafeRune reports the non-ASCII runes a terminal acts on or that
// reorder or split the text around them.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r < 0xa0: // C1: CSI, OSC, DCS... in 8-bit form
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f: // bidi marks
		return true
	case r >= 0x202a && r <= 0x202e: // bidi embeddings and overrides
		return true
	case r >= 0x2066 && r <= 0x2069: // bidi isolates
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}
