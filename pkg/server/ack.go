package server

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pulse-monitor/pulse/pkg/acklink"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// maxAckBy bounds the name typed in the ack form: it is shown in every
// notification and timeline, and nobody's name needs more.
const maxAckBy = 64

// ackByDefault is acked_by when the form's name is left empty: the timeline
// then still says how the incident was acknowledged.
const ackByDefault = "link"

// ackNote is the note of an ack made from a link; the name in the form is
// whatever the clicker typed, so the note says where it came from.
const ackNote = "from the alert's ack link"

var ackPage = template.Must(template.New("ack").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em;color:#222}dt{font-weight:600}dd{margin:0 0 .6em 0;white-space:pre-wrap;word-break:break-word}button{font-size:1em;padding:.4em 1.2em}</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
{{- with .Inc}}
<dl>
<dt>Incident</dt><dd>#{{.ID}}</dd>
<dt>Check</dt><dd>{{.Check}}</dd>
<dt>Severity</dt><dd>{{.Severity}}</dd>
<dt>Status</dt><dd>{{.Status}}</dd>
<dt>Opened</dt><dd>{{.Opened}}</dd>
{{- if .AckedBy}}
<dt>Acknowledged by</dt><dd>{{.AckedBy}}</dd>
{{- end}}
<dt>Message</dt><dd>{{.Message}}</dd>
</dl>
{{- end}}
{{- if .Form}}
<form method="post">
<p><label>Your name (optional) <input name="by" maxlength="64" autocomplete="name"></label></p>
<p><button type="submit">Acknowledge</button></p>
</form>
{{- end}}
</body>
</html>
`))

type ackView struct {
	Title, Text string
	Inc         *ackIncident
	Form        bool
}

type ackIncident struct {
	ID                                       int64
	Check, Severity, Status, Opened, Message string
	AckedBy                                  string
}

// handleAck serves /ack/{token}, the link in P1/P2 alerts. GET only shows
// the incident and a form: mail scanners and link previews fetch every URL
// in a message, so a fetch must never acknowledge. POST acknowledges
// through store.Ack, the same path as `pulse ack`, and the agent sends the
// acknowledge notifications when it picks the flag up. The token is the
// credential, so these routes take no listen_token, and it is never logged.
func (s *Server) handleAck(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	// The page must not hand the token (in its URL) to anything it links.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Robots-Tag", "noindex")

	cfg := s.o.Config()
	key := []byte(cfg.Agent.AckKey.Reveal())
	if len(key) == 0 {
		s.ackPage(w, http.StatusNotFound, ackView{Title: "Ack links are off", Text: "This pulse agent has no [agent].secret_file, so it does not accept ack links."})
		return
	}
	id, err := acklink.Verify(key, r.PathValue("token"), s.o.Now())
	switch {
	case errors.Is(err, acklink.ErrExpired):
		s.ackPage(w, http.StatusGone, ackView{Title: "Link expired", Text: "This ack link has expired. Acknowledge the incident with `pulse ack` or from a newer alert."})
		return
	case err != nil:
		s.ackPage(w, http.StatusBadRequest, ackView{Title: "Invalid link", Text: "This ack link is not valid: it may have been cut short or changed, or the agent's key has changed since it was sent."})
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if r.Method != http.MethodPost {
		inc, err := s.o.Store.Incident(ctx, id)
		if err != nil {
			s.ackStoreError(w, id, err)
			return
		}
		v := ackView{Inc: s.ackIncident(&inc)}
		switch inc.Status {
		case store.StatusResolved:
			v.Title, v.Text = "Already resolved", "This incident is already resolved; there is nothing to acknowledge."
		case store.StatusAcknowledged:
			v.Title, v.Text = "Already acknowledged", "This incident is already acknowledged."
		default:
			v.Title, v.Text, v.Form = "Acknowledge incident?", "Acknowledging stops reminders and escalation and tells the notifiers who were alerted.", true
		}
		s.ackPage(w, http.StatusOK, v)
		return
	}

	by := ackBy(r.PostFormValue("by"))
	inc, err := s.o.Store.Ack(ctx, id, by, ackNote, s.o.Now())
	switch {
	case errors.Is(err, store.ErrResolved):
		s.ackPage(w, http.StatusOK, ackView{Title: "Already resolved", Text: "This incident is already resolved; there is nothing to acknowledge.", Inc: s.ackIncident(&inc)})
	case errors.Is(err, store.ErrAcknowledged):
		s.ackPage(w, http.StatusOK, ackView{Title: "Already acknowledged", Text: "This incident was acknowledged before; nothing changed.", Inc: s.ackIncident(&inc)})
	case err != nil:
		s.ackStoreError(w, id, err)
	default:
		s.log.Info("incident acknowledged from an ack link", "incident", id, "by", by)
		s.ackPage(w, http.StatusOK, ackView{Title: "Acknowledged", Text: "The incident is acknowledged. Reminders and escalation stop within a few seconds.", Inc: s.ackIncident(&inc)})
	}
}

func (s *Server) ackStoreError(w http.ResponseWriter, id int64, err error) {
	if errors.Is(err, store.ErrNotFound) {
		s.ackPage(w, http.StatusNotFound, ackView{Title: "Unknown incident", Text: "This agent has no record of the incident: the database may have been replaced or pruned."})
		return
	}
	s.log.Error("ack link: database error", "incident", id, "err", err)
	s.ackPage(w, http.StatusServiceUnavailable, ackView{Title: "Try again", Text: "The database did not answer; try again in a moment."})
}

func (s *Server) ackIncident(inc *store.Incident) *ackIncident {
	if inc.ID == 0 {
		return nil
	}
	loc := s.o.Config().Agent.Location
	if loc == nil {
		loc = time.UTC
	}
	return &ackIncident{
		ID: inc.ID, Check: inc.Check, Severity: inc.Severity, Status: inc.Status,
		Opened: inc.OpenedAt.In(loc).Format("2006-01-02 15:04 MST"), Message: inc.Message, AckedBy: inc.AckedBy,
	}
}

func (s *Server) ackPage(w http.ResponseWriter, code int, v ackView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := ackPage.Execute(w, v); err != nil {
		s.log.Debug("ack page not written", "err", err)
	}
}

// ackBy makes the typed name fit for the timeline, notifications and
// terminals: printable characters only (no controls, bidi overrides or
// line breaks), spaces collapsed, at most maxAckBy characters; empty
// becomes ackByDefault.
func ackBy(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > maxAckBy {
		s = strings.TrimSpace(string([]rune(s)[:maxAckBy]))
	}
	if s == "" {
		return ackByDefault
	}
	return s
}
