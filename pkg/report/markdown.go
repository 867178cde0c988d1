package report

import (
	"bytes"
	"html/template"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/util"
)

// md renders what people write (incident updates, postmortems, maintenance
// announcements). It is goldmark without WithUnsafe, so links to
// javascript:, vbscript:, file: and data: URLs lose their target and text
// is escaped; and raw HTML in the source, which goldmark would drop, is
// shown as the text it is (escaped): someone who writes "<b>" sees "<b>".
var md = goldmark.New(
	goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify),
	goldmark.WithRendererOptions(html.WithHardWraps(),
		renderer.WithNodeRenderers(util.Prioritized(rawAsText{}, 100))),
)

// rawAsText renders raw HTML, inline and blocks, as escaped text.
type rawAsText struct{}

func (rawAsText) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindRawHTML, func(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			segs := n.(*ast.RawHTML).Segments
			for i := range segs.Len() {
				seg := segs.At(i)
				template.HTMLEscape(w, seg.Value(src))
			}
		}
		return ast.WalkSkipChildren, nil
	})
	reg.Register(ast.KindHTMLBlock, func(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		b := n.(*ast.HTMLBlock)
		if entering {
			w.WriteString("<p>")
			lines := b.Lines()
			for i := range lines.Len() {
				line := lines.At(i)
				template.HTMLEscape(w, line.Value(src))
			}
			if b.HasClosure() {
				template.HTMLEscape(w, b.ClosureLine.Value(src))
			}
			w.WriteString("</p>\n")
		}
		return ast.WalkSkipChildren, nil
	})
}

// Markdown is src rendered to HTML that is safe to put in a page as is;
// a source that does not render is shown as escaped text.
func Markdown(src string) template.HTML {
	var b bytes.Buffer
	if err := md.Convert([]byte(src), &b); err != nil {
		return template.HTML("<p>" + template.HTMLEscapeString(src) + "</p>")
	}
	return template.HTML(b.String()) // #nosec G203 -- text escaped, raw HTML escaped (rawAsText)
}
