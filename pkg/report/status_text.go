package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/pulse-monitor/pulse/pkg/ui"
)

// TableSparkHours is how many of the status' hourly means the text table
// draws.
const TableSparkHours = 12

// StatusTextOptions shape the terminal rendering of a Status.
type StatusTextOptions struct {
	// Width is the terminal's width; columns are dropped, least useful
	// first, until the table fits. 0 means no limit.
	Width int
	// ByTag groups the rows under each of their tags.
	ByTag bool
}

// statusCol is one column of the status table; columns with a lower keep
// are dropped first when the table is too wide.
type statusCol struct {
	head  string
	right bool
	keep  int
	cell  func(r *CheckStatus) cell
}

func statusCols() []statusCol {
	return []statusCol{
		{head: "STATE", keep: 100, cell: func(r *CheckStatus) cell { return stateCell(r.State) }},
		{head: "CHECK", keep: 100, cell: func(r *CheckStatus) cell { return c(r.Name) }},
		{head: "KIND", keep: 3, cell: func(r *CheckStatus) cell { return cell{text: r.Kind, tone: faint} }},
		{head: "LAST", right: true, keep: 7, cell: func(r *CheckStatus) cell {
			if r.LastRunAgeS == nil {
				return cell{text: "–", tone: faint}
			}
			if *r.LastRunAgeS < 1 {
				return c("now")
			}
			return c(ui.Duration(time.Duration(*r.LastRunAgeS)*time.Second) + " ago")
		}},
		{head: "LATENCY", right: true, keep: 6, cell: func(r *CheckStatus) cell { return c(fmtMsP(r.LastLatencyMs)) }},
		{head: "P95 24H", right: true, keep: 4, cell: func(r *CheckStatus) cell { return c(fmtMsP(r.P95Ms24h)) }},
		{head: "UP 24H", right: true, keep: 8, cell: func(r *CheckStatus) cell { return uptimeCell(r.Uptime24h) }},
		{head: "UP 30D", right: true, keep: 5, cell: func(r *CheckStatus) cell { return uptimeCell(r.Uptime30d) }},
		{head: "LATENCY " + strconv.Itoa(TableSparkHours) + "H", keep: 2, cell: func(r *CheckStatus) cell {
			h := r.LatencyHourly
			if len(h) > TableSparkHours {
				h = h[len(h)-TableSparkHours:]
			}
			return cell{text: Sparkline(h), tone: faint}
		}},
		{head: "INCIDENT", keep: 9, cell: func(r *CheckStatus) cell {
			if r.Incident == nil {
				return c("")
			}
			in := r.Incident
			t := warnTone
			if in.Severity == "P1" {
				t = bad
			}
			s := fmt.Sprintf("#%d %s %s", in.ID, in.Severity, ui.Duration(time.Duration(in.AgeS)*time.Second))
			if in.Status == "acknowledged" {
				s += " ack"
			}
			return cell{text: s, tone: t}
		}},
	}
}

func stateCell(state string) cell {
	t := faint
	switch state {
	case "ok":
		t = good
	case "warn", "unknown":
		t = warnTone
	case "crit":
		t = bad
	}
	sym := ui.Symbol(state)
	if state == StatePending {
		sym = "…"
	}
	return cell{text: sym + " " + state, tone: t}
}

func uptimeCell(v *float64) cell {
	if v == nil {
		return cell{text: "–", tone: faint}
	}
	return c(fmtPct(*v))
}

// Text renders s for a terminal: a header with the counts, the KPIs and the
// error budget, then the table of checks.
func (s *Status) Text(st ui.Styles, o StatusTextOptions) string {
	var b strings.Builder
	n := s.Checks
	parts := []string{st.State("ok", fmt.Sprintf("%d ok", n.OK)), st.State("warn", fmt.Sprintf("%d warn", n.Warn)), st.State("crit", fmt.Sprintf("%d crit", n.Crit))}
	if n.Unknown > 0 {
		parts = append(parts, st.State("unknown", fmt.Sprintf("%d unknown", n.Unknown)))
	}
	if n.Pending > 0 {
		parts = append(parts, st.Faint.Render(fmt.Sprintf("%d pending", n.Pending)))
	}
	b.WriteString(st.Bold.Render(fmt.Sprintf("%d checks", n.Total)) + ": " + strings.Join(parts, ", ") + "\n")
	oi := s.OpenIncidents
	inc := fmt.Sprintf("P1 %d · P2 %d · P3 %d · P4 %d", oi.P1, oi.P2, oi.P3, oi.P4)
	switch {
	case oi.P1 > 0:
		inc = st.State("crit", inc)
	case oi.Total() > 0:
		inc = st.State("warn", inc)
	}
	b.WriteString(st.Bold.Render("open incidents") + ": " + inc + "\n\n")

	kpi := tableData{head: []string{"kpi", "target", "24h", "", "30d", ""}, right: []bool{false, true, true, false, true, false}}
	for _, k := range s.KPIs {
		f := k.Format
		name := strings.ReplaceAll(k.Name, "_", " ")
		if k.Unit == "ms" {
			name = "avg " + name
		}
		kpi.rows = append(kpi.rows, []cell{c(name), c(f(&k.Target)), c(f(k.Value24h)), metCell(k.Met24h, metWord(k.Met24h)),
			c(f(k.Value30d)), metCell(k.Met30d, metWord(k.Met30d))})
	}
	writeTextTable(&b, st, kpi, "")
	eb := s.ErrorBudget
	bc := budgetCells(eb)
	b.WriteString(fmt.Sprintf("%s: %s of %s · %s\n\n", st.Bold.Render("error budget 30d"), styled(st, bc[0]), fmtMinutes(eb.AllowedMinutes), styled(st, bc[2])))

	if len(s.Rows) == 0 {
		b.WriteString(st.Faint.Render("no enabled checks in the config") + "\n")
		return b.String()
	}
	cols := fitColumns(statusCols(), s.Rows, o.Width)
	if !o.ByTag {
		writeStatusTable(&b, st, cols, s.Rows)
		return b.String()
	}
	for _, g := range groupByTag(s.Rows) {
		b.WriteString(st.Bold.Render(ui.Safe(g.tag)) + "\n")
		writeStatusTable(&b, st, cols, g.rows)
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

type tagGroup struct {
	tag  string
	rows []CheckStatus
}

// groupByTag puts each row under every one of its tags (tags sorted, the
// untagged last), keeping the worst-first order inside a group.
func groupByTag(rows []CheckStatus) []tagGroup {
	idx := map[string]int{}
	var groups []tagGroup
	add := func(tag string, r CheckStatus) {
		i, ok := idx[tag]
		if !ok {
			i = len(groups)
			idx[tag] = i
			groups = append(groups, tagGroup{tag: tag})
		}
		groups[i].rows = append(groups[i].rows, r)
	}
	for _, r := range rows {
		if len(r.Tags) == 0 {
			add("(untagged)", r)
		}
		for _, t := range r.Tags {
			add("tag:"+t, r)
		}
	}
	slices.SortStableFunc(groups, func(a, b tagGroup) int {
		au, bu := a.tag == "(untagged)", b.tag == "(untagged)"
		switch {
		case au && !bu:
			return 1
		case bu && !au:
			return -1
		}
		return strings.Compare(a.tag, b.tag)
	})
	return groups
}

// fitColumns drops the columns with the lowest keep until the table fits
// width, then, if it still does not, lets writeStatusTable cut names.
func fitColumns(cols []statusCol, rows []CheckStatus, width int) []statusCol {
	if width <= 0 {
		return cols
	}
	widths := colWidths(cols, rows)
	for {
		total := 0
		for i := range cols {
			total += widths[i]
		}
		total += 2 * (len(cols) - 1)
		if total <= width {
			return cols
		}
		drop, lowest := -1, 100
		for i, col := range cols {
			if col.keep < lowest {
				drop, lowest = i, col.keep
			}
		}
		if drop < 0 {
			return cols
		}
		cols = slices.Delete(slices.Clone(cols), drop, drop+1)
		widths = slices.Delete(widths, drop, drop+1)
	}
}

func colWidths(cols []statusCol, rows []CheckStatus) []int {
	w := make([]int, len(cols))
	for i, col := range cols {
		w[i] = lipgloss.Width(col.head)
		for j := range rows {
			w[i] = max(w[i], lipgloss.Width(ui.Safe(col.cell(&rows[j]).text)))
		}
	}
	return w
}

func writeStatusTable(b *strings.Builder, st ui.Styles, cols []statusCol, rows []CheckStatus) {
	t := tableData{}
	for _, col := range cols {
		t.head = append(t.head, strings.ToLower(col.head))
		t.right = append(t.right, col.right)
	}
	for i := range rows {
		r := make([]cell, len(cols))
		for j, col := range cols {
			r[j] = col.cell(&rows[i])
		}
		t.rows = append(t.rows, r)
		for _, l := range rows[i].Locations {
			t.rows = append(t.rows, locationRow(cols, l))
		}
	}
	writeTextTable(b, st, t, "")
}

// Text renders one check's detail: its row, recent results and incidents.
func (d *CheckDetail) Text(st ui.Styles, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	var b strings.Builder
	r := &d.Check
	b.WriteString(styled(st, stateCell(r.State)) + " " + st.Bold.Render(ui.Safe(r.Name)) + " " + st.Faint.Render(r.Kind) + "\n")
	if r.Message != "" {
		b.WriteString("  " + ui.Safe(r.Message) + "\n")
	}
	kv := [][2]string{
		{"last run", ifNil(r.LastRun, func(t *time.Time) string { return t.In(loc).Format("2006-01-02 15:04:05") })},
		{"latency", fmtMsP(r.LastLatencyMs) + "  (p95 24h " + fmtMsP(r.P95Ms24h) + ")"},
		{"uptime", fmtPctP(r.Uptime24h) + " 24h, " + fmtPctP(r.Uptime30d) + " 30d"},
		{"latency 24h", Sparkline(r.LatencyHourly)},
	}
	if r.Value != nil {
		kv = append(kv, [2]string{"value", fmtNumP(r.Value)})
	}
	if len(r.Locations) > 0 {
		kv = append(kv, [2]string{"locations", LocationsSummary(r.Locations)})
	}
	if len(r.Tags) > 0 {
		kv = append(kv, [2]string{"tags", ui.Safe(strings.Join(r.Tags, ", "))})
	}
	for _, p := range kv {
		b.WriteString("  " + st.Faint.Render(padRight(p[0], 12)) + p[1] + "\n")
	}
	b.WriteString("\n" + st.Bold.Render("recent results") + "\n")
	rt := tableData{head: []string{"time", "state", "latency", "value", "message"}, right: []bool{false, false, true, true, false}, empty: "no results in the last 24 hours"}
	for _, res := range d.Results {
		rt.rows = append(rt.rows, []cell{c(res.Start.In(loc).Format("01-02 15:04:05")), stateCell(res.State), c(fmtMs(res.LatencyMs)), c(fmtNumP(res.Value)), c(res.Message)})
	}
	writeTextTable(&b, st, rt, "")
	b.WriteString("\n" + st.Bold.Render("incidents (30 days)") + "\n")
	it := tableData{head: []string{"id", "sev", "status", "opened", "acknowledged", "resolved", "message"}, right: []bool{true}, empty: "no incidents"}
	for _, in := range d.Incidents {
		ack, res := "–", "–"
		if !in.AckedAt.IsZero() {
			ack = hhmm(in.AckedAt, loc) + " " + in.AckedBy
		}
		if !in.ResolvedAt.IsZero() {
			res = hhmm(in.ResolvedAt, loc)
		}
		it.rows = append(it.rows, []cell{c("#" + strconv.FormatInt(in.ID, 10)), c(in.Severity), c(in.Status), c(hhmm(in.OpenedAt, loc)), c(strings.TrimSpace(ack)), c(res), c(in.Message)})
	}
	writeTextTable(&b, st, it, "")
	return b.String()
}

func ifNil[T any](v *T, f func(*T) string) string {
	if v == nil {
		return "–"
	}
	return f(v)
}
