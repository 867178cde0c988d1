package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The digest is laid out once, as sections of key/value lines and tables of
// toned cells; the text, markdown and html renderers only draw them.

type tone uint8

const (
	plain tone = iota
	good
	bad
	warnTone
	faint
)

type cell struct {
	text  string
	tone  tone
	spark []*float64 // html draws these as a line instead of text
}

func c(s string) cell { return cell{text: s} }

func metCell(met *bool, text string) cell {
	switch {
	case met == nil:
		return cell{text: text, tone: faint}
	case *met:
		return cell{text: text, tone: good}
	}
	return cell{text: text, tone: bad}
}

type tableData struct {
	title string
	head  []string
	right []bool // right-aligned columns
	rows  [][]cell
	empty string // shown instead of an empty table
}

type line struct {
	key   string
	cells []cell
}

type section struct {
	title  string
	lines  []line
	tables []tableData
	charts bool // the html renderer draws the availability and latency charts here
}

func (d *Digest) location() *time.Location {
	if loc, err := time.LoadLocation(d.Timezone); err == nil {
		return loc
	}
	return time.UTC
}

// Subtitle is the digest's period in words.
func (d *Digest) Subtitle() string {
	period := d.Date
	if d.Kind == Weekly {
		period = d.Date + " to " + d.EndDate
	}
	return fmt.Sprintf("%s, %s, %d hours", period, d.Timezone, d.Hours)
}

// SummaryLine is one paragraph for chat notifiers.
func (d *Digest) SummaryLine() string {
	s := &d.Summary
	var b strings.Builder
	fmt.Fprintf(&b, "%s: availability %s (target %s, %s), error rate %s, error budget left %s",
		d.Title, fmtPctP(s.Availability), fmtPct(s.AvailabilityTarget), metWord(s.AvailabilityMet),
		fmtRate(s.ErrorRate), fmtMinutes(s.ErrorBudget.LeftMinutes))
	fmt.Fprintf(&b, "; incidents opened %d (P1 %d, P2 %d, P3 %d, P4 %d), MTTA %s, MTTR %s",
		s.Opened.Total(), s.Opened.P1, s.Opened.P2, s.Opened.P3, s.Opened.P4, fmtSecP(s.MTTASeconds), fmtSecP(s.MTTRSeconds))
	if len(d.Changes) > 0 {
		fmt.Fprintf(&b, "; %d changes since the %s before", len(d.Changes), d.periodWord())
	}
	if len(d.Failed) > 0 {
		fmt.Fprintf(&b, "; %d notifications failed", len(d.Failed))
	}
	if n := len(d.Postmortems); n == 1 {
		b.WriteString("; 1 postmortem written")
	} else if n > 1 {
		fmt.Fprintf(&b, "; %d postmortems written", n)
	}
	return b.String() + "."
}

func (d *Digest) periodWord() string {
	if d.Kind == Weekly {
		return "week"
	}
	return "day"
}

func (d *Digest) sections() []section {
	loc := d.location()
	s := &d.Summary
	exec := section{title: "Executive summary", charts: true}
	errs := fmt.Sprintf("%d of %d runs failed", s.Failures, s.Runs)
	exec.lines = []line{
		{"availability", []cell{metCell(s.AvailabilityMet, fmtPctP(s.Availability)), c("target " + fmtPct(s.AvailabilityTarget)), metCell(s.AvailabilityMet, metWord(s.AvailabilityMet))}},
		{"error rate", []cell{metCell(s.ErrorRateMet, fmtRate(s.ErrorRate)), c("target " + fmtRate(&s.ErrorRateTarget)), metCell(s.ErrorRateMet, metWord(s.ErrorRateMet)), cell{text: errs, tone: faint}}},
		{"error budget", budgetCells(s.ErrorBudget)},
		{"incidents", []cell{c(fmt.Sprintf("opened %d: P1 %d · P2 %d · P3 %d · P4 %d", s.Opened.Total(), s.Opened.P1, s.Opened.P2, s.Opened.P3, s.Opened.P4)),
			c(fmt.Sprintf("resolved %d · open at end %d", s.Resolved, s.OpenAtEnd))}},
		{"MTTA / MTTR", []cell{c(fmtSecP(s.MTTASeconds) + " / " + fmtSecP(s.MTTRSeconds))}},
	}
	avail := tableData{head: []string{"check", "availability", "target", "runs", "failed", "trend"}, right: []bool{false, true, false, true, true, false},
		empty: "no checks configured"}
	for _, cp := range d.Checks {
		avail.rows = append(avail.rows, []cell{c(cp.Name), metCell(cp.AvailabilityMet, fmtPctP(cp.Availability)),
			metCell(cp.AvailabilityMet, metWord(cp.AvailabilityMet)), c(strconv.FormatInt(cp.Runs, 10)),
			failCell(cp.Failures), cell{text: Sparkline(bucketMeans(cp.Hourly, 24)), tone: faint}})
		for _, l := range cp.Locations {
			avail.rows = append(avail.rows, []cell{{text: "  @" + l.Name, tone: faint}, metCell(l.AvailabilityMet, fmtPctP(l.Availability)),
				c(""), c(strconv.FormatInt(l.Runs, 10)), failCell(l.Failures), cell{text: "mean " + fmtMsP(l.MeanMs), tone: faint}})
		}
	}
	exec.tables = append(exec.tables, avail)

	ops := section{title: "Operations"}
	lat := tableData{title: "Slowest checks (p95)", head: []string{"check", "kind", "mean", "p50", "p95", "max", "target", ""},
		right: []bool{false, false, true, true, true, true, true, false}, empty: "no runs"}
	for _, name := range d.Operations.Slowest {
		cp := d.Check(name)
		lat.rows = append(lat.rows, []cell{c(cp.Name), c(cp.Kind), c(fmtMsP(cp.MeanMs)), c(fmtMsP(cp.P50Ms)), c(fmtMsP(cp.P95Ms)),
			c(fmtMsP(cp.MaxMs)), c(fmtMsP(cp.LatencyTargetMs)), metCell(cp.LatencyMet, metWord(cp.LatencyMet))})
	}
	er := tableData{title: "Error rates", head: []string{"check", "error rate", "failed", "warn", "crit", "runs"},
		right: []bool{false, true, true, true, true, true}, empty: "no failed runs"}
	for _, name := range d.Operations.ErrorRates {
		cp := d.Check(name)
		er.rows = append(er.rows, []cell{c(cp.Name), cell{text: fmtRate(cp.ErrorRate), tone: bad}, c(strconv.FormatInt(cp.Failures, 10)),
			c(strconv.FormatInt(cp.Warn, 10)), c(strconv.FormatInt(cp.Crit, 10)), c(strconv.FormatInt(cp.Runs, 10))})
	}
	sqlT := tableData{title: "SQL query times (target " + fmtMs(d.Operations.SQLTarget) + ")", head: []string{"check", "mean", "p50", "p95", "target", ""},
		right: []bool{false, true, true, true, true, false}, empty: "no sql checks ran"}
	for _, name := range d.Operations.SQL {
		cp := d.Check(name)
		sqlT.rows = append(sqlT.rows, []cell{c(cp.Name), c(fmtMsP(cp.MeanMs)), c(fmtMsP(cp.P50Ms)), c(fmtMsP(cp.P95Ms)),
			c(fmtMsP(cp.LatencyTargetMs)), metCell(cp.LatencyMet, metWord(cp.LatencyMet))})
	}
	fn := tableData{title: "Failed notifications", head: []string{"notifier", "event", "incident", "attempts", "status", "error"},
		right: []bool{false, false, false, true, false, false}, empty: "none"}
	for _, f := range d.Failed {
		inc := "–"
		if f.IncidentID != 0 {
			inc = "#" + strconv.FormatInt(f.IncidentID, 10)
		}
		fn.rows = append(fn.rows, []cell{c(f.Notifier), c(f.Event), c(inc), c(strconv.Itoa(f.Attempts)), cell{text: f.Status, tone: bad}, c(f.Error)})
	}
	ops.tables = []tableData{lat, er, sqlT, fn}

	biz := section{title: "Business metrics"}
	mt := tableData{head: []string{"metric", "min", "avg", "max", "last", "samples", "baseline", "change", "trend"},
		right: []bool{false, true, true, true, true, true, true, true, false}, empty: "no business metrics"}
	for _, m := range d.Metrics {
		base := fmtNumP(m.Baseline)
		if m.Baseline != nil {
			base += " (" + m.Compare + " ago)"
		}
		mt.rows = append(mt.rows, []cell{c(m.Name), c(fmtNumP(m.Min)), c(fmtNumP(m.Avg)), c(fmtNumP(m.Max)), c(fmtNumP(m.Last)),
			c(strconv.Itoa(m.Samples)), c(base), c(fmtChange(m.Change)), sparkCell(valuesP(m.Values, 48))})
	}
	biz.tables = []tableData{mt}

	incT := func(title string, incs []Incident, empty string) tableData {
		t := tableData{title: title, head: []string{"id", "sev", "check", "opened", "acknowledged", "resolved", "duration", "message"},
			right: []bool{true, false, false, false, false, false, true, false}, empty: empty}
		for i := range incs {
			in := &incs[i]
			ack, res, dur := "–", "open", "–"
			if !in.AckedAt.IsZero() {
				ack = hhmm(in.AckedAt, loc)
				if in.AckedBy != "" {
					ack += " by " + in.AckedBy
				}
			}
			if !in.ResolvedAt.IsZero() {
				res = hhmm(in.ResolvedAt, loc)
				dur = fmtSecP(ptr(in.Duration(d.To).Seconds()))
			}
			sevTone := warnTone
			if in.Severity == "P1" {
				sevTone = bad
			}
			t.rows = append(t.rows, []cell{c("#" + strconv.FormatInt(in.ID, 10)), {text: in.Severity, tone: sevTone}, c(in.Check), c(hhmm(in.OpenedAt, loc)),
				c(ack), c(res), c(dur), c(in.Message)})
		}
		return t
	}
	pmT := tableData{title: "Postmortems written", head: []string{"incident", "sev", "check", "title", "author", "written", "link"},
		empty: "no postmortems written"}
	for _, p := range d.Postmortems {
		link := "private"
		if p.URL != "" {
			link = p.URL
		} else if p.Public {
			link = "public"
		}
		pmT.rows = append(pmT.rows, []cell{c("#" + strconv.FormatInt(p.IncidentID, 10)), c(p.Severity), c(p.Check), c(p.Title),
			c(p.Author), c(p.WrittenAt.In(loc).Format("Jan 02 15:04")), {text: link, tone: faint}})
	}
	incs := section{title: "Incidents", tables: []tableData{
		incT("", d.Incidents, "no incidents"),
		incT("P4 (digest only)", d.P4, "no P4 incidents"),
		pmT,
	}}

	ch := section{title: "What changed since the " + d.periodWord() + " before"}
	ct := tableData{head: []string{"check", "change", "before", "after"}, empty: "nothing changed"}
	for _, x := range d.Changes {
		t := plain
		switch x.What {
		case "new_failures", "no_data", "slower":
			t = bad
		case "recovered", "faster":
			t = good
		}
		ct.rows = append(ct.rows, []cell{c(x.Check), {text: strings.ReplaceAll(x.What, "_", " "), tone: t}, c(x.Before), c(x.After)})
	}
	ch.tables = []tableData{ct}
	return []section{exec, ops, biz, incs, ch}
}

func budgetCells(b Budget) []cell {
	left := cell{text: fmtMinutes(b.LeftMinutes) + " left", tone: good}
	if b.LeftMinutes < 0 {
		left.tone = bad
	} else if b.AllowedMinutes > 0 && b.LeftMinutes < b.AllowedMinutes/4 {
		left.tone = warnTone
	}
	burn := cell{text: "burn rate 24h " + fmtBurn(b.BurnRate24h)}
	if b.BurnRate24h == nil || *b.BurnRate24h > 1 {
		burn.tone = bad
	}
	return []cell{left, c(fmt.Sprintf("of %s allowed (%d days at %s), %s used", fmtMinutes(b.AllowedMinutes), b.WindowDays, fmtPct(b.Target), fmtMinutes(b.UsedMinutes))), burn}
}

func sparkCell(vs []*float64) cell {
	if len(vs) == 0 {
		return cell{text: "", tone: faint}
	}
	// The text renderings fold to 24 characters; html draws every point.
	folded := vs
	if len(vs) > 24 {
		folded = make([]*float64, 0, 24)
		per := (len(vs) + 23) / 24
		for i := 0; i < len(vs); i += per {
			var sum float64
			n := 0
			for _, v := range vs[i:min(i+per, len(vs))] {
				if v != nil {
					sum += *v
					n++
				}
			}
			if n == 0 {
				folded = append(folded, nil)
			} else {
				folded = append(folded, ptr(sum/float64(n)))
			}
		}
	}
	return cell{text: Sparkline(folded), tone: faint, spark: vs}
}

func failCell(n int64) cell {
	if n == 0 {
		return cell{text: "0", tone: faint}
	}
	return cell{text: strconv.FormatInt(n, 10), tone: bad}
}

// bucketMeans folds hourly buckets into at most n run-weighted latency means.
func bucketMeans(bs []Bucket, n int) []*float64 {
	if len(bs) == 0 {
		return nil
	}
	per := (len(bs) + n - 1) / n
	out := make([]*float64, 0, n)
	for i := 0; i < len(bs); i += per {
		var sum float64
		var runs int64
		for _, b := range bs[i:min(i+per, len(bs))] {
			if b.MeanMs != nil {
				sum += *b.MeanMs * float64(b.Runs)
				runs += b.Runs
			}
		}
		if runs == 0 {
			out = append(out, nil)
		} else {
			out = append(out, ptr(sum/float64(runs)))
		}
	}
	return out
}

// valuesP folds values into at most n means.
func valuesP(vs []float64, n int) []*float64 {
	if len(vs) == 0 {
		return nil
	}
	per := (len(vs) + n - 1) / n
	out := make([]*float64, 0, n)
	for i := 0; i < len(vs); i += per {
		var sum float64
		part := vs[i:min(i+per, len(vs))]
		for _, v := range part {
			sum += v
		}
		out = append(out, ptr(sum/float64(len(part))))
	}
	return out
}
