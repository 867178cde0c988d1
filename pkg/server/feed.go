package server

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/report"
	"github.com/pulse-monitor/pulse/pkg/store"
)

const (
	// feedEntries bounds /feed.xml: the newest public updates and
	// announcements of the last PageDays days.
	feedEntries = 100
	atomNS      = "http://www.w3.org/2005/Atom"
)

// atomFeed is an Atom (RFC 4287) feed: id, title, updated and an author
// on the feed; id, title, updated and content on each entry.
type atomFeed struct {
	XMLName xml.Name    `xml:"feed"`
	NS      string      `xml:"xmlns,attr"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Links   []atomLink  `xml:"link"`
	Author  atomAuthor  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomEntry struct {
	ID       string       `xml:"id"`
	Title    string       `xml:"title"`
	Updated  string       `xml:"updated"`
	Link     *atomLink    `xml:"link,omitempty"`
	Category atomCategory `xml:"category"`
	Content  atomContent  `xml:"content"`
}

type atomCategory struct {
	Term string `xml:"term,attr"`
}

// atomContent is HTML as escaped text (type="html"): encoding/xml escapes
// it, and the HTML itself is what report.Markdown made safe.
type atomContent struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

func atomTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// handleFeed serves the public updates and maintenance announcements as an
// Atom feed, newest first.
func (s *Server) handleFeed(w http.ResponseWriter, r *http.Request) {
	cfg := s.o.Config()
	now := s.o.Now()
	// The status page's rule: incidents of checks it shows (enabled,
	// public) only; announcements always.
	shown := publicChecks(cfg)
	ups, err := s.o.Store.PublicUpdates(r.Context(), now.Add(-PageDays*24*time.Hour), feedEntries, func(check string) bool { return shown[check] })
	if err != nil {
		s.fail(w, "read public updates", err)
		return
	}
	b, err := buildFeed(cfg, ups, now)
	if err != nil {
		s.fail(w, "build feed", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/atom+xml; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.Write(b)
}

func buildFeed(cfg *config.Config, ups []store.PublicUpdate, now time.Time) ([]byte, error) {
	title := cfg.Agent.StatusPageTitle
	if title == "" {
		title = "Status"
	}
	base := strings.TrimRight(cfg.Agent.PublicURL, "/")
	f := atomFeed{NS: atomNS, ID: "urn:pulse:feed", Title: title + ": incident updates", Updated: atomTime(now),
		Author: atomAuthor{Name: title}, Entries: make([]atomEntry, 0, len(ups))}
	if base != "" {
		f.ID = base + "/feed.xml"
		f.Links = []atomLink{{Rel: "self", Type: "application/atom+xml", Href: base + "/feed.xml"}, {Rel: "alternate", Type: "text/html", Href: base + "/"}}
	}
	if len(ups) > 0 {
		f.Updated = atomTime(ups[0].At) // newest first
	}
	for _, u := range ups {
		e := atomEntry{Updated: atomTime(u.At), Category: atomCategory{Term: u.Status},
			Content: atomContent{Type: "html", Body: string(report.Markdown(u.Message))}}
		anchor := fmt.Sprintf("update-%d", u.ID)
		if u.IncidentID == 0 {
			e.Title = "Planned maintenance: " + announcementTitle(u.Message)
		} else {
			e.Title = fmt.Sprintf("%s: %s", u.Check, statusWords(u.Status))
			anchor = fmt.Sprintf("incident-%d", u.IncidentID)
		}
		if base != "" {
			e.ID = fmt.Sprintf("%s/feed.xml#update-%d", base, u.ID)
			e.Link = &atomLink{Rel: "alternate", Type: "text/html", Href: base + "/#" + anchor}
		} else {
			e.ID = fmt.Sprintf("urn:pulse:update:%d", u.ID)
		}
		f.Entries = append(f.Entries, e)
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// statusWords is an update's status as a heading: "Investigating".
func statusWords(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// announcementTitle is the first line of an announcement's message, which
// the agent writes as the window's title, without markdown emphasis.
func announcementTitle(msg string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(msg), "\n")
	return strings.Trim(strings.TrimSpace(line), "*#_ ")
}

// publicChecks are the names of the checks the status page shows.
func publicChecks(cfg *config.Config) map[string]bool {
	m := make(map[string]bool, len(cfg.Checks))
	for i := range cfg.Checks {
		if c := &cfg.Checks[i]; c.OnStatusPage() {
			m[c.Name] = true
		}
	}
	return m
}
