package report

import (
	"strings"
	"testing"
)

func TestMarkdownIsSafe(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
		never     []string
	}{
		{"markup", "# Root cause\n\nThe **disk** filled up.\n\n- grow it\n- alert on it",
			[]string{"<h1>Root cause</h1>", "<strong>disk</strong>", "<li>grow it</li>"}, nil},
		{"script tag", "before <script>alert(1)</script> after",
			[]string{"<p>before &lt;script&gt;alert(1)&lt;/script&gt; after</p>"}, []string{"<script"}},
		{"script block", "<script>\nalert(1)\n</script>\n\nnext",
			[]string{"&lt;script&gt;", "alert(1)", "&lt;/script&gt;", "<p>next</p>"}, []string{"<script"}},
		{"html block", "<div onclick=\"x()\">\n*hi*\n</div>",
			[]string{"&lt;div onclick=&#34;x()&#34;&gt;"}, []string{"<div"}},
		{"event handler", `<img src=x onerror="alert(1)">`,
			[]string{"&lt;img src=x onerror=&#34;alert(1)&#34;&gt;"}, []string{"<img"}},
		{"javascript link", "[click](javascript:alert(1))",
			[]string{"click"}, []string{"javascript:"}},
		{"link", "see [the runbook](https://example.com/rb?a=1&b=2)",
			[]string{`<a href="https://example.com/rb?a=1&amp;b=2">the runbook</a>`}, nil},
		{"escaped text", "a < b && c > d \"q\"",
			[]string{"a &lt; b &amp;&amp; c &gt; d &quot;q&quot;"}, nil},
		{"terminal escapes", "\x1b]0;pwned\x07 text",
			[]string{"text"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(Markdown(tc.src))
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("Markdown(%q) = %q, want it to contain %q", tc.src, got, w)
				}
			}
			for _, n := range tc.never {
				if strings.Contains(got, n) {
					t.Errorf("Markdown(%q) = %q contains %q", tc.src, got, n)
				}
			}
		})
	}
}
