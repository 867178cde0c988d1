package server

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

const evil = "<script>alert(1)</script> and <img src=x onerror=alert(2)>"

// updatesFixture: db has an open P1 with two public updates and a private
// one; api had a resolved incident 3 days ago with a public update and a
// public postmortem, another 100 days ago (out of the history);
// secret-internal (not public) a resolved one with a public update.
func updatesFixture(t *testing.T, agentExtra string) (*fixture, map[string]int64) {
	t.Helper()
	f := newFixture(t, agentExtra)
	ctx := context.Background()
	ids := map[string]int64{
		"open":   f.incident(t, store.Incident{Check: "db", Type: "tcp", Severity: "P1", State: "crit", Status: "open", OpenedAt: now.Add(-90 * time.Minute)}),
		"past":   f.incident(t, store.Incident{Check: "api", Type: "tcp", Severity: "P2", State: "crit", Status: "open", OpenedAt: now.Add(-72 * time.Hour)}),
		"old":    f.incident(t, store.Incident{Check: "api", Type: "tcp", Severity: "P2", State: "crit", Status: "open", OpenedAt: now.Add(-100 * 24 * time.Hour)}),
		"secret": f.incident(t, store.Incident{Check: "secret-internal", Type: "tcp", Severity: "P2", State: "crit", Status: "open", OpenedAt: now.Add(-48 * time.Hour)}),
	}
	add := func(id int64, at time.Time, status, msg string, public bool) {
		t.Helper()
		if _, err := f.st.AddUpdate(ctx, store.Update{IncidentID: id, At: at, Status: status, Message: msg, Public: public, Author: "alice"}); err != nil {
			t.Fatal(err)
		}
	}
	add(ids["open"], now.Add(-80*time.Minute), "investigating", "Connections **refused**; looking.", true)
	add(ids["open"], now.Add(-70*time.Minute), "identified", "internal: disk on db-3 is full", false)
	add(ids["open"], now.Add(-60*time.Minute), "monitoring", evil, true)
	add(ids["past"], now.Add(-71*time.Hour), "resolved", "Fixed by a rollback.", true)
	add(ids["old"], now.Add(-99*24*time.Hour), "resolved", "Ancient history.", true)
	add(ids["secret"], now.Add(-47*time.Hour), "resolved", "Secret check fixed.", true)
	if _, err := f.st.SetPostmortem(ctx, ids["past"], "# Root cause\n\nA bad deploy. "+evil, "alice", true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.SetPostmortem(ctx, ids["open"], "private notes", "alice", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.st.AnnounceMaintenance(ctx, store.Update{At: now.Add(-2 * time.Hour), Message: "Database upgrade\n\nWrites pause " + evil,
		Public: true, DedupKey: "maintenance:test"}); err != nil {
		t.Fatal(err)
	}
	return f, ids
}

func TestStatusPageUpdates(t *testing.T) {
	f, _ := updatesFixture(t, "")
	rec := f.get(t, "GET", "/", nil, nil)
	if rec.Code != 200 {
		t.Fatalf("GET / = %d: %s", rec.Code, rec.Body)
	}
	page := rec.Body.String()
	for _, want := range []string{
		`<link rel="alternate" type="application/atom+xml" title="Example status: incident updates" href="feed.xml">`,
		`<strong>Monitoring</strong> <span class="when">2026-11-25 11:00 UTC</span>`,
		`<strong>Investigating</strong> <span class="when">2026-11-25 10:40 UTC</span>`,
		"Connections <strong>refused</strong>; looking.",
		"Past incidents",
		`id="incident-2"`, "#2 resolved · 2026-11-22 12:00 UTC, lasted 1h",
		"Fixed by a rollback.",
		"<summary>Postmortem (2026-11-25)</summary>", "<h1>Root cause</h1>",
		// Markup in a message or a postmortem is shown as text.
		"&lt;script&gt;alert(1)&lt;/script&gt; and &lt;img src=x onerror=alert(2)&gt;",
		"A bad deploy. &lt;script&gt;",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Newest update first in the current incident.
	if strings.Index(page, "<strong>Monitoring</strong>") > strings.Index(page, "<strong>Investigating</strong>") {
		t.Error("updates not newest first")
	}
	for _, never := range []string{
		"disk on db-3", "private notes", // private update and postmortem
		"Secret check fixed", // an incident of a check that is not public
		"Ancient history",    // older than 90 days
		"<script", "<img",
	} {
		if strings.Contains(page, never) {
			t.Errorf("page shows %q", never)
		}
	}
}

func TestAPIIncidentsUpdates(t *testing.T) {
	f, ids := updatesFixture(t, "")
	rec := f.get(t, "GET", "/api/v1/incidents", nil, nil)
	if rec.Code != 200 {
		t.Fatalf("GET = %d: %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	if strings.Contains(body, "<script") || !strings.Contains(body, `\u003cscript\u003ealert(1)\u003c/script\u003e`) {
		t.Errorf("the API does not escape a message's HTML: %s", body)
	}
	var got []struct {
		ID      int64 `json:"id"`
		Updates []struct {
			ID      int64     `json:"id"`
			At      time.Time `json:"at"`
			Status  string    `json:"status"`
			Message string    `json:"message"`
			Public  bool      `json:"public"`
			Author  *string   `json:"author"`
		} `json:"updates"`
		Postmortem *struct {
			WrittenAt time.Time `json:"written_at"`
			Public    bool      `json:"public"`
			Body      string    `json:"body"`
			Author    *string   `json:"author"`
		} `json:"postmortem"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	byID := map[int64]int{}
	for i, in := range got {
		byID[in.ID] = i
	}
	open := got[byID[ids["open"]]]
	if len(open.Updates) != 2 || open.Updates[0].Status != "investigating" || open.Updates[1].Status != "monitoring" ||
		open.Updates[1].Message != evil || !open.Updates[1].Public || !open.Updates[1].At.Equal(now.Add(-60*time.Minute)) ||
		open.Updates[0].Author != nil {
		t.Errorf("open incident's updates = %+v", open.Updates)
	}
	if open.Postmortem != nil {
		t.Errorf("a private postmortem is published: %+v", open.Postmortem)
	}
	past := got[byID[ids["past"]]]
	if past.Postmortem == nil || !past.Postmortem.Public || !strings.HasPrefix(past.Postmortem.Body, "# Root cause") || past.Postmortem.Author != nil {
		t.Errorf("past incident's postmortem = %+v", past.Postmortem)
	}
	if len(past.Updates) != 1 || past.Updates[0].Message != "Fixed by a rollback." {
		t.Errorf("past incident's updates = %+v", past.Updates)
	}
}

func TestFeed(t *testing.T) {
	f, ids := updatesFixture(t, `public_url = "https://status.example.com/"`)
	rec := f.get(t, "GET", "/feed.xml", nil, nil)
	if rec.Code != 200 {
		t.Fatalf("GET /feed.xml = %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/atom+xml; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	raw := rec.Body.String()
	if !strings.HasPrefix(raw, `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Errorf("no XML declaration: %.80s", raw)
	}
	if strings.Contains(raw, "<script") || strings.Contains(raw, "<img") {
		t.Errorf("the feed carries raw markup: %s", raw)
	}
	type entry struct {
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Updated string `xml:"updated"`
		Link    struct {
			Href string `xml:"href,attr"`
		} `xml:"link"`
		Content struct {
			Type string `xml:"type,attr"`
			Body string `xml:",chardata"`
		} `xml:"content"`
	}
	var feed struct {
		XMLName xml.Name
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Updated string `xml:"updated"`
		Author  struct {
			Name string `xml:"name"`
		} `xml:"author"`
		Links []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"link"`
		Entries []entry `xml:"entry"`
	}
	if err := xml.Unmarshal(rec.Body.Bytes(), &feed); err != nil {
		t.Fatalf("not XML: %v\n%s", err, raw)
	}
	if feed.XMLName.Space != "http://www.w3.org/2005/Atom" || feed.XMLName.Local != "feed" {
		t.Errorf("root = %+v", feed.XMLName)
	}
	if feed.ID != "https://status.example.com/feed.xml" || feed.Title != "Example status: incident updates" || feed.Author.Name != "Example status" {
		t.Errorf("feed = %q %q %q", feed.ID, feed.Title, feed.Author.Name)
	}
	if len(feed.Links) != 2 || feed.Links[0].Rel != "self" || feed.Links[0].Href != "https://status.example.com/feed.xml" {
		t.Errorf("links = %+v", feed.Links)
	}
	// Public updates of the last 90 days, newest first, and the
	// announcement; never the private update, nor one of a check the
	// status page does not show (public = false), as on the page.
	wantTitles := []string{"db: Monitoring", "db: Investigating", "Planned maintenance: Database upgrade", "api: Resolved"}
	if len(feed.Entries) != len(wantTitles) {
		t.Fatalf("%d entries: %+v", len(feed.Entries), feed.Entries)
	}
	for i, e := range feed.Entries {
		if e.Title != wantTitles[i] {
			t.Errorf("entry %d title = %q, want %q", i, e.Title, wantTitles[i])
		}
		if _, err := time.Parse(time.RFC3339, e.Updated); err != nil || e.ID == "" || e.Content.Type != "html" {
			t.Errorf("entry %d = %+v", i, e)
		}
	}
	if feed.Updated != "2026-11-25T11:00:00Z" || feed.Entries[0].Updated != "2026-11-25T11:00:00Z" {
		t.Errorf("updated = %q, %q", feed.Updated, feed.Entries[0].Updated)
	}
	first := feed.Entries[0]
	if !strings.HasPrefix(first.ID, "https://status.example.com/feed.xml#update-") ||
		first.Link.Href != "https://status.example.com/#incident-"+itoa(ids["open"]) {
		t.Errorf("first entry id %q link %q", first.ID, first.Link.Href)
	}
	// The content is HTML as text: unescaped once by the reader, it has
	// the message's markup escaped, never live.
	if strings.Contains(first.Content.Body, "<script") || !strings.Contains(first.Content.Body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("entry content = %q", first.Content.Body)
	}
	if c := html.UnescapeString(feed.Entries[1].Content.Body); !strings.Contains(c, "<strong>refused</strong>") {
		t.Errorf("markdown not rendered: %q", feed.Entries[2].Content.Body)
	}
	if strings.Contains(raw, "disk on db-3") || strings.Contains(raw, "Ancient history") || strings.Contains(raw, "secret-internal") {
		t.Error("the feed has a private or a too old update")
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestStatusPagePlannedMaintenance(t *testing.T) {
	f := newFixture(t, "")
	f.cfg.Maintenance = []config.Maintenance{
		// Today 14:00 UTC for 2h: announced (24h ahead).
		{Checks: []string{"db"}, Schedule: "0 14 * * *", Duration: config.Duration(2 * time.Hour), Announce: true,
			Title: "DB <upgrade>", Message: "Writes **pause**. " + evil, AnnounceBefore: config.Duration(24 * time.Hour)},
		// In progress since 11:30.
		{Checks: []string{"api"}, Schedule: "30 11 * * *", Duration: config.Duration(time.Hour), Announce: true,
			Title: "API patching", AnnounceBefore: config.Duration(time.Hour)},
		// Not announced.
		{Checks: []string{"api"}, Schedule: "0 13 * * *", Duration: config.Duration(time.Hour)},
	}
	page := f.get(t, "GET", "/", nil, nil).Body.String()
	for _, want := range []string{
		"Planned maintenance",
		`<span class="name">DB &lt;upgrade&gt;</span> · Wed 25 Nov 2026 14:00 – 16:00 UTC`,
		"Writes <strong>pause</strong>. &lt;script&gt;",
		`<span class="name">API patching</span> · in progress, Wed 25 Nov 2026 11:30 – 12:30 UTC`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Count(page, `<div class="incident"><span class="name">`) != 2 {
		t.Errorf("page:\n%s", page)
	}
}

func TestMarkdownCacheKeepsOnePage(t *testing.T) {
	var c mdCache
	a := c.render("**a**")
	c.render("b")
	c.done()
	if len(c.cur) != 2 || a != "<p><strong>a</strong></p>\n" {
		t.Fatalf("after the first page: %q, %v", a, c.cur)
	}
	if got := c.render("**a**"); got != a {
		t.Fatalf("cached = %q", got)
	}
	c.done() // "b" was not shown: forgotten
	if _, ok := c.cur["b"]; ok || len(c.cur) != 1 {
		t.Fatalf("after the second page: %v", c.cur)
	}
}
