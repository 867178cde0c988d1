package report

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/ui"
)

// fmtPct formats a percentage with two decimals, rounded down so that
// 99.999 % never shows as 100 %.
func fmtPct(v float64) string {
	if v >= 100 {
		return "100%"
	}
	return strconv.FormatFloat(math.Floor(v*100+1e-6)/100, 'f', 2, 64) + "%"
}

func fmtPctP(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmtPct(*v)
}

// fmtRate formats an error rate: more decimals, since its targets are small.
func fmtRate(v *float64) string {
	if v == nil {
		return "–"
	}
	if *v == 0 {
		return "0%"
	}
	return strconv.FormatFloat(*v, 'f', 3, 64) + "%"
}

func fmtMs(v float64) string { return ui.Duration(time.Duration(v * float64(time.Millisecond))) }

func fmtMsP(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmtMs(*v)
}

func fmtSecP(v *float64) string {
	if v == nil {
		return "–"
	}
	return ui.Duration(time.Duration(*v) * time.Second)
}

func fmtNumP(v *float64) string {
	if v == nil {
		return "–"
	}
	return ui.Number(*v)
}

func fmtMinutes(v float64) string {
	return strconv.FormatFloat(v, 'f', 1, 64) + " min"
}

func fmtBurn(v *float64) string {
	if v == nil {
		return "∞"
	}
	return strconv.FormatFloat(*v, 'f', 2, 64) + "×"
}

// metWord is "met", "missed" or "–" without data.
func metWord(v *bool) string {
	switch {
	case v == nil:
		return "–"
	case *v:
		return "met"
	}
	return "missed"
}

// Sparkline draws values as ▁▂▃▄▅▆▇█ scaled from 0 to the largest; a nil
// value (no data) is a space.
func Sparkline(values []*float64) string {
	const bars = "▁▂▃▄▅▆▇█"
	runes := []rune(bars)
	hi := 0.0
	for _, v := range values {
		if v != nil && *v > hi {
			hi = *v
		}
	}
	var b strings.Builder
	for _, v := range values {
		switch {
		case v == nil:
			b.WriteByte(' ')
		case hi <= 0:
			b.WriteRune(runes[0])
		default:
			i := int(math.Round(*v / hi * float64(len(runes)-1)))
			b.WriteRune(runes[min(max(i, 0), len(runes)-1)])
		}
	}
	return b.String()
}

func fmtChange(v *float64) string {
	if v == nil {
		return "–"
	}
	s := strconv.FormatFloat(*v, 'f', 1, 64) + "%"
	if *v > 0 {
		s = "+" + s
	}
	return s
}

func hhmm(t time.Time, loc *time.Location) string { return t.In(loc).Format("01-02 15:04") }
