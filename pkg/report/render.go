package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/pulse-monitor/pulse/pkg/ui"
)

// Formats of RenderDigest.
var Formats = []string{"text", "markdown", "html", "json"}

// RenderDigest writes d in format: text (coloured when st.Color()),
// markdown, html or json.
func RenderDigest(w io.Writer, d *Digest, format string, st ui.Styles) error {
	var err error
	switch format {
	case "text", "":
		_, err = io.WriteString(w, d.Text(st))
	case "markdown", "md":
		_, err = io.WriteString(w, d.Markdown())
	case "html":
		_, err = io.WriteString(w, d.HTML())
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(d)
	default:
		return fmt.Errorf("unknown format %q (use %s)", format, strings.Join(Formats, ", "))
	}
	if err != nil {
		return fmt.Errorf("write digest: %w", err)
	}
	return nil
}

// safe is cl with its text made terminal-safe: cells carry check
// messages, incident notes and receivers' errors.
func safe(cl cell) cell {
	cl.text = ui.Safe(cl.text)
	return cl
}

func styled(st ui.Styles, cl cell) string {
	switch cl.tone {
	case good:
		return st.State("ok", cl.text)
	case bad:
		return st.State("crit", cl.text)
	case warnTone:
		return st.State("warn", cl.text)
	case faint:
		return st.Faint.Render(cl.text)
	}
	return cl.text
}

// Text renders d for a terminal.
func (d *Digest) Text(st ui.Styles) string {
	var b strings.Builder
	b.WriteString(st.Bold.Render(ui.Safe(d.Title)) + "\n")
	b.WriteString(st.Faint.Render(ui.Safe(d.Subtitle())) + "\n")
	for _, s := range d.sections() {
		b.WriteString("\n" + st.Bold.Render(strings.ToUpper(s.title)) + "\n")
		kw := 0
		for _, l := range s.lines {
			kw = max(kw, lipgloss.Width(ui.Safe(l.key)))
		}
		for _, l := range s.lines {
			parts := make([]string, len(l.cells))
			for i, cl := range l.cells {
				parts[i] = styled(st, safe(cl))
			}
			b.WriteString("  " + padRight(ui.Safe(l.key), kw) + "  " + strings.Join(parts, "  ") + "\n")
		}
		for _, t := range s.tables {
			if len(s.lines) > 0 || t.title != "" {
				b.WriteString("\n")
			}
			if t.title != "" {
				b.WriteString("  " + ui.Safe(t.title) + "\n")
			}
			writeTextTable(&b, st, t, "  ")
		}
	}
	return b.String()
}

func writeTextTable(b *strings.Builder, st ui.Styles, t tableData, indent string) {
	if len(t.rows) == 0 {
		b.WriteString(indent + st.Faint.Render(t.empty) + "\n")
		return
	}
	rows := make([][]cell, len(t.rows))
	for j, r := range t.rows {
		rows[j] = make([]cell, len(r))
		for i, cl := range r {
			rows[j][i] = safe(cl)
		}
	}
	widths := make([]int, len(t.head))
	for i, h := range t.head {
		widths[i] = lipgloss.Width(h)
	}
	for _, r := range rows {
		for i, cl := range r {
			widths[i] = max(widths[i], lipgloss.Width(cl.text))
		}
	}
	right := func(i int) bool { return i < len(t.right) && t.right[i] }
	var line []string
	for i, h := range t.head {
		line = append(line, pad(strings.ToUpper(h), widths[i], right(i)))
	}
	b.WriteString(indent + st.Faint.Render(strings.TrimRight(strings.Join(line, "  "), " ")) + "\n")
	for _, r := range rows {
		line = line[:0]
		for i, cl := range r {
			// Pad the plain text and colour it after, so that escapes
			// never count towards the width.
			p := pad(cl.text, widths[i], right(i))
			if cl.text != "" {
				p = strings.Replace(p, cl.text, styled(st, cl), 1)
			}
			line = append(line, p)
		}
		b.WriteString(indent + strings.TrimRight(strings.Join(line, "  "), " ") + "\n")
	}
}

func pad(s string, w int, right bool) string {
	if right {
		return padLeft(s, w)
	}
	return padRight(s, w)
}

func padRight(s string, w int) string {
	if n := lipgloss.Width(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

func padLeft(s string, w int) string {
	if n := lipgloss.Width(s); n < w {
		return strings.Repeat(" ", w-n) + s
	}
	return s
}

// Markdown renders d as GitHub-flavoured markdown.
func (d *Digest) Markdown() string {
	var b strings.Builder
	b.WriteString("# " + ui.Safe(d.Title) + "\n\n_" + ui.Safe(d.Subtitle()) + "_\n")
	for _, s := range d.sections() {
		b.WriteString("\n## " + s.title + "\n\n")
		for _, l := range s.lines {
			parts := make([]string, len(l.cells))
			for i, cl := range l.cells {
				parts[i] = mdCell(cl)
			}
			b.WriteString("- **" + ui.Safe(l.key) + "**: " + strings.Join(parts, ", ") + "\n")
		}
		for _, t := range s.tables {
			if len(s.lines) > 0 || t.title != "" {
				b.WriteString("\n")
			}
			if t.title != "" {
				b.WriteString("### " + ui.Safe(t.title) + "\n\n")
			}
			if len(t.rows) == 0 {
				b.WriteString("_" + t.empty + "_\n")
				continue
			}
			b.WriteString("| " + strings.Join(t.head, " | ") + " |\n|")
			for i := range t.head {
				if i < len(t.right) && t.right[i] {
					b.WriteString("---:|")
				} else {
					b.WriteString("---|")
				}
			}
			b.WriteString("\n")
			for _, r := range t.rows {
				parts := make([]string, len(r))
				for i, cl := range r {
					parts[i] = mdCell(cl)
				}
				b.WriteString("| " + strings.Join(parts, " | ") + " |\n")
			}
		}
	}
	return b.String()
}

var mdEscaper = strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`)

func mdCell(cl cell) string {
	t := mdEscaper.Replace(ui.Safe(cl.text))
	if cl.tone == bad && t != "" {
		return "**" + t + "**"
	}
	return t
}
