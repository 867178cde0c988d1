package report

import (
	"time"

	"github.com/pulse-monitor/pulse/pkg/store"
)

// IncidentOf is the report's view of a stored incident, times in UTC.
func IncidentOf(s *store.Incident) Incident {
	return Incident{ID: s.ID, Check: s.Check, Severity: s.Severity, Status: s.Status, Message: s.Message,
		OpenedAt: s.OpenedAt.UTC(), AckedAt: utc(s.AckedAt), AckedBy: s.AckedBy, ResolvedAt: utc(s.ResolvedAt)}
}

// IncidentRecord is an incident as pulse publishes it: one element of
// /api/v1/incidents and of `pulse incidents --json`, and the top of
// `pulse incidents show --json`. Its field names are a public contract
// (README, "Incidents as JSON"):
//
//	id, check, severity, status, message (omitted when empty), opened_at,
//	acked_at, acked_by, resolved_at (omitted until they happen), type,
//	state (worst check state seen), value (null without one),
//	ack_note, resolved_by (omitted when empty), duration_s (until now
//	while open, whole seconds), notifications_sent, notifications_failed.
type IncidentRecord struct {
	Incident
	Type       string   `json:"type"`
	State      string   `json:"state"` // worst check state seen
	Value      *float64 `json:"value"`
	AckNote    string   `json:"ack_note,omitempty"`
	ResolvedBy string   `json:"resolved_by,omitempty"`
	DurationS  float64  `json:"duration_s"`
	Sent       int      `json:"notifications_sent"`
	Failed     int      `json:"notifications_failed"`
	// Updates are what people wrote (pulse incidents update), oldest
	// first; /api/v1/incidents has the public ones only, without authors.
	Updates []UpdateRecord `json:"updates"`
	// Postmortem is the incident's postmortem, omitted when none (on
	// /api/v1/incidents: when none is public).
	Postmortem *PostmortemRecord `json:"postmortem,omitempty"`
}

// UpdateRecord is one update of an incident as pulse publishes it; message
// is markdown, as written.
type UpdateRecord struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Status  string    `json:"status"`
	Message string    `json:"message"`
	Public  bool      `json:"public"`
	Author  string    `json:"author,omitempty"`
}

// PostmortemRecord is an incident's postmortem as pulse publishes it; body
// is markdown, as written.
type PostmortemRecord struct {
	WrittenAt time.Time `json:"written_at"`
	Author    string    `json:"author,omitempty"`
	Public    bool      `json:"public"`
	Body      string    `json:"body"`
}

// NewUpdateRecords are the records of ups, never nil (JSON []).
func NewUpdateRecords(ups []store.Update) []UpdateRecord {
	out := make([]UpdateRecord, len(ups))
	for i, u := range ups {
		out[i] = UpdateRecord{ID: u.ID, At: u.At.UTC(), Status: u.Status, Message: u.Message, Public: u.Public, Author: u.Author}
	}
	return out
}

// NewPostmortemRecord is the record of pm (nil for nil).
func NewPostmortemRecord(pm *store.Postmortem) *PostmortemRecord {
	if pm == nil {
		return nil
	}
	return &PostmortemRecord{WrittenAt: pm.WrittenAt.UTC(), Author: pm.Author, Public: pm.Public, Body: pm.Body}
}

// Anonymous drops the authors of r's updates and postmortem: the status
// page's API does not name who wrote them.
func (r *IncidentRecord) Anonymous() {
	for i := range r.Updates {
		r.Updates[i].Author = ""
	}
	if r.Postmortem != nil {
		r.Postmortem.Author = ""
	}
}

// NewIncidentRecord is the record of s at now.
func NewIncidentRecord(s *store.Incident, now time.Time) IncidentRecord {
	return IncidentRecord{
		Incident: IncidentOf(s), Type: s.Type, State: s.State, Value: s.Value,
		AckNote: s.AckNote, ResolvedBy: s.ResolvedBy,
		DurationS: s.Duration(now).Round(time.Second).Seconds(), Sent: s.Sent, Failed: s.Failed,
		Updates: []UpdateRecord{},
	}
}

// IncidentRecordsWith are the records of list at now with their updates
// and postmortems (by incident id, as the store returns them).
func IncidentRecordsWith(list []store.Incident, ups map[int64][]store.Update, pms map[int64]store.Postmortem, now time.Time) []IncidentRecord {
	out := IncidentRecords(list, now)
	for i := range out {
		out[i].Updates = NewUpdateRecords(ups[out[i].ID])
		if pm, ok := pms[out[i].ID]; ok {
			out[i].Postmortem = NewPostmortemRecord(&pm)
		}
	}
	return out
}

// IncidentRecords are the records of list at now, never nil (JSON []).
func IncidentRecords(list []store.Incident, now time.Time) []IncidentRecord {
	out := make([]IncidentRecord, len(list))
	for i := range list {
		out[i] = NewIncidentRecord(&list[i], now)
	}
	return out
}

// IncidentDetail is `pulse incidents show ID --json`: the incident's
// record, its timeline and its notifications.
type IncidentDetail struct {
	IncidentRecord
	Timeline      []TimelineEvent        `json:"timeline"`
	Notifications []IncidentNotification `json:"notifications"`
}

// TimelineEvent is one line of an incident's timeline.
type TimelineEvent struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail,omitempty"`
}

// IncidentNotification is one notification of an incident.
type IncidentNotification struct {
	Notifier  string     `json:"notifier"`
	Event     string     `json:"event"`
	Status    string     `json:"status"`
	Attempts  int        `json:"attempts"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	Answer    string     `json:"answer,omitempty"`
}

// NewIncidentDetail is the detail of s at now, with its timeline and
// notifications (as the store returns them).
func NewIncidentDetail(s *store.Incident, tl []store.IncidentEvent, notes []store.OutboxRowInfo, now time.Time) IncidentDetail {
	d := IncidentDetail{IncidentRecord: NewIncidentRecord(s, now),
		Timeline: make([]TimelineEvent, 0, len(tl)), Notifications: make([]IncidentNotification, 0, len(notes))}
	for _, e := range tl {
		d.Timeline = append(d.Timeline, TimelineEvent{At: e.At.UTC(), Kind: e.Kind, Detail: e.Detail})
	}
	for _, n := range notes {
		nj := IncidentNotification{Notifier: n.Notifier, Event: n.Event, Status: n.Status, Attempts: n.Attempts,
			LastError: n.LastError, Answer: n.Answer}
		if !n.SentAt.IsZero() {
			t := n.SentAt.UTC()
			nj.SentAt = &t
		}
		d.Notifications = append(d.Notifications, nj)
	}
	return d
}
