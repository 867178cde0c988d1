package report

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// dashSrc serves BuildExecDash what it reads; the rest of Source panics
// (nil embedded interface), so a read not expected here fails the test.
type dashSrc struct {
	DashSource
	rows []store.CheckRow
	incs []store.Incident
}

func (d dashSrc) Checks(context.Context) ([]store.CheckRow, error) { return d.rows, nil }
func (d dashSrc) IncidentsBetween(_ context.Context, from, to time.Time) ([]store.Incident, error) {
	return d.incs, nil
}

const dashTOML = `
[agent]
database = "pulse.db"
[targets]
availability = 99
[[check]]
name = "a"
type = "tcp"
address = "127.0.0.1:1"
tags = ["web", "edge"]
[[check]]
name = "b"
type = "tcp"
address = "127.0.0.1:1"
tags = ["web"]
[[check]]
name = "c"
type = "tcp"
address = "127.0.0.1:1"
`

func TestBuildExecAndOpsDash(t *testing.T) {
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "pulse.toml"), []byte(dashTOML), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	ds := &DailyStats{First: DashFirstDay(now, DashDays), Days: DashDays, ByCheck: map[string][]DayStat{
		"a": make([]DayStat, DashDays), "b": make([]DayStat, DashDays)}}
	for d := range DashDays {
		ds.ByCheck["a"][d] = DayStat{Runs: 100, P50: 10 * time.Millisecond, P95: 20 * time.Millisecond}
		if d >= 60 {
			ds.ByCheck["b"][d] = DayStat{Runs: 100, Failures: 10, P50: 5 * time.Millisecond, P95: 50 * time.Millisecond}
		}
	}
	ds.ByCheck["a"][0].Failures = 50 // 90 days ago: in the 90, not the 30
	if !ds.First.Equal(time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("first day %v", ds.First)
	}
	opened := now.Add(-3 * 24 * time.Hour)
	src := dashSrc{
		rows: []store.CheckRow{{Name: "a", FirstSeen: now.Add(-100 * 24 * time.Hour)}, {Name: "b", FirstSeen: now.Add(-30 * 24 * time.Hour)}},
		incs: []store.Incident{
			{ID: 1, Check: "a", Severity: "P1", OpenedAt: opened, AckedAt: opened.Add(4 * time.Minute), ResolvedAt: opened.Add(time.Hour)},
			{ID: 2, Check: "b", Severity: "P3", OpenedAt: opened.Add(-200 * 24 * time.Hour)}, // before the 90 days, still open
		},
	}
	st := &Status{}
	e, err := BuildExecDash(context.Background(), src, cfg, st, ds, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Groups) != 2 || e.Groups[0].Name != "web" || e.Groups[1].Name != UngroupedName || e.Untagged != 1 {
		t.Fatalf("groups %+v, untagged %d", e.Groups, e.Untagged)
	}
	web := e.Groups[0]
	// 30 days: a 100 %, b 90 %: mean 95 %. 90 days: a 1 - 50/9000, b 90 %.
	if web.Checks != 2 || *web.Availability30d != 95 || *web.Met30d {
		t.Errorf("web 30d = %v (met %v), want 95 missed", *web.Availability30d, *web.Met30d)
	}
	if want := pct(((1 - 50.0/9000) + 0.9) / 2); *web.Availability90d != want {
		t.Errorf("web 90d = %v, want %v", *web.Availability90d, want)
	}
	// The budget: 1 % of 30 days is 432 minutes; 5 % failed over the 30.
	if web.Budget.AllowedMinutes != 432 || web.Budget.UsedMinutes != 2160 {
		t.Errorf("web budget %+v, want 432 allowed, 2160 used", web.Budget)
	}
	// Day 0: only a ran, at 50 %; today both: 100 and 90.
	if len(web.Daily) != DashDays || *web.Daily[0].Availability != 50 || web.Daily[0].Runs != 100 || *web.Daily[89].Availability != 95 || web.Daily[89].Runs != 200 {
		t.Errorf("web daily: day 0 %+v, day 89 %+v", web.Daily[0], web.Daily[89])
	}
	if other := e.Groups[1]; other.Availability30d != nil || other.Daily[5].Availability != nil {
		t.Errorf("other (no runs) = %+v", other)
	}
	if e.Opened90d.Total() != 1 || e.Opened90d.P1 != 1 || *e.MTTA90d != 240 || *e.MTTR90d != 3600 {
		t.Errorf("90 days: opened %+v, MTTA %v, MTTR %v", e.Opened90d, e.MTTA90d, e.MTTR90d)
	}
	if len(e.Weeks) != 13 || e.Weeks[12].Opened.P1 != 1 || *e.Weeks[12].MTTRSeconds != 3600 || e.Weeks[11].MTTASeconds != nil {
		t.Errorf("weeks: %d, last %+v", len(e.Weeks), e.Weeks[12])
	}

	st.Rows = []CheckStatus{{Name: "b", State: "warn"}, {Name: "a", State: "ok"}, {Name: "gone", State: "ok"}}
	o, err := BuildOpsDash(context.Background(), src, cfg, st, ds)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Checks) != 2 || o.Checks[0].Name != "b" || o.Days != OpsDays || !o.First.Equal(ds.DayStart(60)) {
		t.Fatalf("ops checks %d, first %v", len(o.Checks), o.First)
	}
	b := o.Checks[0]
	if *b.ErrorRate != 10 || *b.P95Ms[0] != 50 || *b.P50Ms[29] != 5 || *b.P95Today != 50 || b.Group != "web" || b.Throughput != nil {
		t.Errorf("b = %+v", b)
	}
}

func TestLineChartEscapesAndMarks(t *testing.T) {
	v := 3.0
	svg := LineChart(130, 30, `latency of <x>`, func(f float64) string { return "<" + fmtMs(f) }, []Series{
		{Color: ColP50, Values: []*float64{&v, nil, &v, &v}},
	}, []Marker{{Pos: 2, Title: `deploy <script>alert(1)</script>`}})
	for _, want := range []string{
		`aria-label="latency of &lt;x&gt;, peak &lt;3ms"`,
		`<line class="marker" x1="45.0" y1="0" x2="45.0" y2="30.0"`, // 2 slots of 90/4
		`<title>deploy &lt;script&gt;alert(1)&lt;/script&gt;</title>`,
		`<circle cx="11.2"`, // the lone first point
		`<polyline fill="none" stroke="#0969da" stroke-width="1.5" points="56.2,3.0 78.8,3.0"/>`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q:\n%s", want, svg)
		}
	}
	if strings.Contains(svg, "<script") || strings.Contains(svg, "<x>") {
		t.Errorf("chart has unescaped text: %s", svg)
	}
	bars := AvailabilityChart([]Bucket{{Start: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Availability: ptr(98.0)}, {}}, 99, 20, 10, "a <b>", "2 Jan")
	for _, want := range []string{`aria-label="a &lt;b&gt;"`, `fill="#cf222e"><title>2 Jan 98.00%</title>`, `<title>1 Jan no runs</title>`} {
		if !strings.Contains(bars, want) {
			t.Errorf("bars lack %q: %s", want, bars)
		}
	}
}
