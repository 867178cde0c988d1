// Package ui is pulse's terminal look: lipgloss styles that collapse to plain
// text when colour is off, and compact formatting of durations and numbers.
package ui

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// Styles renders text with or without colour.
type Styles struct {
	color    bool
	renderer *lipgloss.Renderer
	ok       lipgloss.Style
	warn     lipgloss.Style
	crit     lipgloss.Style
	unknown  lipgloss.Style
	Bold     lipgloss.Style
	Faint    lipgloss.Style
}

// NewStyles returns styles that emit ANSI colour only when color is true.
func NewStyles(color bool) Styles {
	r := lipgloss.NewRenderer(nil)
	if color {
		r.SetColorProfile(termenv.ANSI256)
	} else {
		r.SetColorProfile(termenv.Ascii)
	}
	return Styles{
		color:    color,
		renderer: r,
		ok:       r.NewStyle().Foreground(lipgloss.Color("2")),
		warn:     r.NewStyle().Foreground(lipgloss.Color("3")),
		crit:     r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		unknown:  r.NewStyle().Foreground(lipgloss.Color("5")),
		Bold:     r.NewStyle().Bold(true),
		Faint:    r.NewStyle().Faint(true),
	}
}

// Color reports whether these styles emit colour.
func (s Styles) Color() bool { return s.color }

// State renders text in the colour of state ("ok", "warn", "crit", "unknown").
func (s Styles) State(state, text string) string {
	switch state {
	case "ok":
		return s.ok.Render(text)
	case "warn":
		return s.warn.Render(text)
	case "crit":
		return s.crit.Render(text)
	}
	return s.unknown.Render(text)
}

// Symbol is a state's symbol, readable without colour next to its word.
func Symbol(state string) string {
	switch state {
	case "ok":
		return "●"
	case "warn":
		return "▲"
	case "crit":
		return "✖"
	}
	return "?"
}

// Number formats v without trailing zeros: 5, 0.25, 1234.5.
func Number(v float64) string {
	s := strconv.FormatFloat(v, 'f', 3, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
