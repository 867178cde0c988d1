package ui

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"OK - all good", "OK - all good"},
		{"héllo wörld ✓ 日本 🚀", "héllo wörld ✓ 日本 🚀"},
		{"OK \x1b]0;pwned\x07\x1b[2J", `OK \x1b]0;pwned\x07\x1b[2J`},
		{"a\x00b\x7fc", `a\x00b\x7fc`},
		{"line1\nline2\r\tx", `line1\nline2\r\tx`},
		{"csi \u009b31m red", `csi \u009b31m red`},
		{"invoice \u202egnp.exe", `invoice \u202egnp.exe`},
		{"\u2066iso\u2069 \u200fmark\u200e \u061c", `\u2066iso\u2069 \u200fmark\u200e \u061c`},
		{"sep\u2028x\u2029", `sep\u2028x\u2029`},
		{"raw \x9b byte \xff", `raw \x9b byte \xff`},
		{"", ""},
	} {
		got := Safe(tc.in)
		if got != tc.want {
			t.Errorf("Safe(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.ContainsAny(got, "\x1b\x07\n\r\u009b\u202e") || !utf8.ValidString(got) {
			t.Errorf("Safe(%q) = %q still carries a control character", tc.in, got)
		}
	}
}
