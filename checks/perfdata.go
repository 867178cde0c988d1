package checks

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// PerfdataError lists the items ParsePerfdata skipped because they did not
// follow the Monitoring Plugins format.
type PerfdataError struct {
	Malformed []string // the skipped items as written (at most 5 are kept)
	Count     int      // how many items were skipped
}

// Error describes the skipped items.
func (e *PerfdataError) Error() string {
	more := ""
	if e.Count > len(e.Malformed) {
		more = fmt.Sprintf(" (and %d more)", e.Count-len(e.Malformed))
	}
	return fmt.Sprintf("malformed perfdata: %d item(s) skipped: %q%s", e.Count, e.Malformed, more)
}

// ParsePerfdata parses plugin performance data as the Monitoring Plugins
// development guidelines define it: space-separated items
// 'label'=value[UOM];[warn];[crit];[min];[max], where a label with spaces is
// single-quoted (a doubled quote stands for a quote inside it), trailing
// fields may be dropped, and warn/crit are kept as written because they are
// plugin ranges ("10:", "@5:10"), not pulse thresholds.
//
// It is tolerant: items whose value is "U" (undetermined) are left out
// without error, malformed items are skipped, and the well-formed ones are
// returned together with a *PerfdataError naming what was skipped.
func ParsePerfdata(s string) ([]Perf, error) {
	var out []Perf
	err := scanPerfdata(s, func(p Perf, undetermined bool) {
		if !undetermined {
			out = append(out, p)
		}
	})
	return out, err
}

// scanPerfdata calls yield for every well-formed item of s, including those
// whose value is U (undetermined), so callers that look for one label can
// tell "missing" from "unknown".
func scanPerfdata(s string, yield func(p Perf, undetermined bool)) error {
	var bad *PerfdataError
	reject := func(item string) {
		if bad == nil {
			bad = &PerfdataError{}
		}
		bad.Count++
		if len(bad.Malformed) < 5 {
			if len(item) > 80 {
				item = item[:80] + "..."
			}
			bad.Malformed = append(bad.Malformed, item)
		}
	}
	i := 0
	for {
		for i < len(s) && isPerfSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			break
		}
		start := i
		var label string
		if s[i] == '\'' {
			var ok bool
			label, i, ok = quotedLabel(s, i)
			if !ok || i >= len(s) || s[i] != '=' {
				i = skipItem(s, i)
				reject(s[start:i])
				continue
			}
		} else {
			for i < len(s) && s[i] != '=' && !isPerfSpace(s[i]) {
				i++
			}
			if i >= len(s) || s[i] != '=' || i == start {
				i = skipItem(s, i)
				reject(s[start:i])
				continue
			}
			label = s[start:i]
		}
		i++ // '='
		vstart := i
		for i < len(s) && !isPerfSpace(s[i]) {
			i++
		}
		p, undetermined, ok := perfFields(label, s[vstart:i])
		if !ok {
			reject(s[start:i])
			continue
		}
		yield(p, undetermined)
	}
	if bad != nil {
		return bad
	}
	return nil
}

func isPerfSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// quotedLabel reads the single-quoted label that starts at s[i] and returns
// it unescaped with the index just past the closing quote.
func quotedLabel(s string, i int) (string, int, bool) {
	i++
	var b strings.Builder
	from := i
	for i < len(s) {
		if s[i] != '\'' {
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			b.WriteString(s[from : i+1])
			i += 2
			from = i
			continue
		}
		if b.Len() == 0 {
			label := s[from:i]
			return label, i + 1, label != ""
		}
		b.WriteString(s[from:i])
		return b.String(), i + 1, true
	}
	return "", i, false
}

// skipItem moves past the rest of a malformed item: up to the next space
// outside quotes.
func skipItem(s string, i int) int {
	for i < len(s) && !isPerfSpace(s[i]) {
		i++
	}
	return i
}

// perfFields parses value[UOM];warn;crit;min;max.
func perfFields(label, v string) (p Perf, undetermined, ok bool) {
	p.Label = label
	fields := strings.Split(v, ";")
	for len(fields) > 5 && fields[len(fields)-1] == "" {
		fields = fields[:len(fields)-1] // "a=1;2;3;0;100;" from sloppy plugins
	}
	if len(fields) > 5 || fields[0] == "" {
		return p, false, false
	}
	for n, f := range fields[1:] {
		switch n {
		case 0:
			p.Warn = f
		case 1:
			p.Crit = f
		case 2:
			p.Min = f
		case 3:
			p.Max = f
		}
	}
	if fields[0] == "U" {
		return p, true, true
	}
	num, uom := splitUOM(fields[0])
	if num == "" || !validUOM(uom) {
		return p, false, false
	}
	if strings.IndexByte(num, ',') >= 0 {
		// Plugins running under a locale with a decimal comma ("0,50").
		if strings.IndexByte(num, '.') >= 0 || strings.Count(num, ",") > 1 {
			return p, false, false
		}
		num = strings.Replace(num, ",", ".", 1)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return p, false, false
	}
	p.Value, p.UOM = f, uom
	return p, false, true
}

// splitUOM splits "12.5ms" into "12.5" and "ms": the number is the longest
// prefix of number characters, exponent included ("1e+06B").
func splitUOM(s string) (num, uom string) {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := false
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == ',') {
		digits = digits || s[i] >= '0' && s[i] <= '9'
		i++
	}
	if !digits {
		return "", s
	}
	if i+1 < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if s[j] == '-' || s[j] == '+' {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	return s[:i], s[i:]
}

// validUOM accepts the guidelines' units (s ms us % B KB MB TB c) and the
// others plugins print in practice (GB, KiB, MiB, B/s, °C...): anything
// without digits, quotes, '=' or ';'.
func validUOM(u string) bool {
	return !strings.ContainsAny(u, "0123456789'=;.,+-")
}

// FormatPerfdata writes items back in the plugin format, quoting labels
// that need it; ParsePerfdata(FormatPerfdata(ps)) returns ps.
func FormatPerfdata(ps []Perf) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		if p.Label == "" || strings.ContainsAny(p.Label, " \t\n\r\v\f'=") {
			b.WriteByte('\'')
			b.WriteString(strings.ReplaceAll(p.Label, "'", "''"))
			b.WriteByte('\'')
		} else {
			b.WriteString(p.Label)
		}
		b.WriteByte('=')
		b.WriteString(strconv.FormatFloat(p.Value, 'g', -1, 64))
		b.WriteString(p.UOM)
		tail := [4]string{p.Warn, p.Crit, p.Min, p.Max}
		n := len(tail)
		for n > 0 && tail[n-1] == "" {
			n--
		}
		for _, f := range tail[:n] {
			b.WriteByte(';')
			b.WriteString(f)
		}
	}
	return b.String()
}
