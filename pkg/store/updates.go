package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
)

// ErrDuplicate is AddUpdate's error for an update whose DedupKey is
// already stored.
var ErrDuplicate = errors.New("already recorded")

// MaxUpdateMessage and MaxPostmortem bound what people write: a status page
// entry is not a document store.
const (
	MaxUpdateMessage = 16 << 10
	MaxPostmortem    = 256 << 10
)

// Update is one entry of an incident's timeline, or (IncidentID 0) an announcement of planned maintenance.
type Update struct {
	ID         int64
	IncidentID int64 // 0: a maintenance announcement (incident_id NULL)
	At         time.Time
	Status     string // investigating|identified|monitoring|resolved; "scheduled" for an announcement
	Message    string
	Public     bool
	Author     string
	DedupKey   string // "" for none; an announcement's key, so it is written once
}

// PublicUpdate is a public update with the check of its incident ("" for
// an announcement), for the status page's feed.
type PublicUpdate struct {
	Update
	Check string
}

// Postmortem is the review written after an incident (markdown).
type Postmortem struct {
	IncidentID int64
	Body       string
	WrittenAt  time.Time
	Author     string
	Public     bool
}

// WrittenPostmortem is a postmortem with its incident's check and
// severity, for the digests.
type WrittenPostmortem struct {
	Postmortem
	Check    string
	Severity string
}

// PastIncident is a resolved incident with its public updates and its
// postmortem when that is public, for the status page's history.
type PastIncident struct {
	Incident
	Updates    []Update    // public ones, oldest first
	Postmortem *Postmortem // nil unless a public one was written
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// AddUpdate stores u (its ID is ignored; a zero At is now) and returns its
// id. The status is checked (alert.CheckUpdateStatus); an unknown incident
// is ErrNotFound; a DedupKey already stored is ErrDuplicate. A "resolved"
// update on an incident not yet resolved resolves it by hand, in the same
// transaction, exactly as Resolve does (alert.UpdateResolves decides).
func (s *Store) AddUpdate(ctx context.Context, u Update) (int64, error) {
	id, isNew, err := s.addUpdate(ctx, u)
	if err == nil && !isNew {
		return id, fmt.Errorf("update %q: %w", u.DedupKey, ErrDuplicate)
	}
	return id, err
}

// AnnounceMaintenance stores an announcement of planned maintenance
// (IncidentID 0, status "scheduled" when empty) once per DedupKey, which
// it requires: it returns whether this call wrote it, and the id either way.
func (s *Store) AnnounceMaintenance(ctx context.Context, u Update) (int64, bool, error) {
	if u.IncidentID != 0 {
		return 0, false, fmt.Errorf("announce maintenance: incident #%d: an announcement belongs to no incident", u.IncidentID)
	}
	if u.DedupKey == "" {
		return 0, false, errors.New("announce maintenance: no dedup key")
	}
	if u.Status == "" {
		u.Status = alert.UpdateScheduled
	}
	return s.addUpdate(ctx, u)
}

func (s *Store) addUpdate(ctx context.Context, u Update) (int64, bool, error) {
	if s.readOnly {
		return 0, false, ErrReadOnly
	}
	what := "announcement"
	if u.IncidentID != 0 {
		what = fmt.Sprintf("update of incident #%d", u.IncidentID)
	}
	if u.IncidentID < 0 {
		return 0, false, fmt.Errorf("incident #%d: %w", u.IncidentID, ErrNotFound)
	}
	if err := alert.CheckUpdateStatus(u.Status, u.IncidentID == 0); err != nil {
		return 0, false, fmt.Errorf("%s: %w", what, err)
	}
	if strings.TrimSpace(u.Message) == "" {
		return 0, false, fmt.Errorf("%s: empty message", what)
	}
	if len(u.Message) > MaxUpdateMessage {
		return 0, false, fmt.Errorf("%s: message of %d bytes, at most %d", what, len(u.Message), MaxUpdateMessage)
	}
	if u.At.IsZero() {
		u.At = s.now()
	}
	var id int64
	if u.DedupKey != "" {
		// Written already (an announcement is offered again every minute
		// while due): no write transaction, and on PostgreSQL no identity
		// value used up by the INSERT's conflict. The INSERT below still
		// settles a race.
		err := s.r.QueryRowContext(ctx, `SELECT id FROM incident_updates WHERE dedup_key = ?`, u.DedupKey).Scan(&id)
		if err == nil {
			return id, false, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, false, fmt.Errorf("add %s: %w", what, err)
		}
	}
	isNew := true
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		t := s.wrap(tx)
		var inc Incident
		if u.IncidentID != 0 {
			var err error
			if inc, err = t.Incident(u.IncidentID); err != nil {
				return err
			}
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO incident_updates(incident_id, at, status, message, public, author, dedup_key)
			VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dedup_key) DO NOTHING RETURNING id`,
			nullID(u.IncidentID), msOf(u.At), u.Status, u.Message, boolInt(u.Public), u.Author, nullStr(u.DedupKey)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			isNew = false
			return tx.QueryRowContext(ctx, `SELECT id FROM incident_updates WHERE dedup_key = ?`, u.DedupKey).Scan(&id)
		}
		if err != nil {
			return err
		}
		if u.IncidentID != 0 && alert.UpdateResolves(u.Status, inc.Status == StatusResolved) {
			return s.resolveByHand(tx, &inc, u.Author, u.At)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return 0, false, err // already says which incident
		}
		return 0, false, fmt.Errorf("add %s: %w", what, err)
	}
	return id, isNew, nil
}

const updateCols = `id, incident_id, at, status, message, public, author, dedup_key`

// publicUpdateCols reads updates (u) with their incident's check, for
// scanUpdate(rows, &PublicUpdate.Check); the WHERE clause follows.
const publicUpdateCols = `u.id, u.incident_id, u.at, u.status, u.message, u.public, u.author, u.dedup_key,
	COALESCE(i.check_name, '') FROM incident_updates u LEFT JOIN incidents i ON i.id = u.incident_id`

func scanUpdate(sc scanner, extra ...any) (Update, error) {
	var u Update
	var inc sql.NullInt64
	var at, public int64
	var key sql.NullString
	if err := sc.Scan(append([]any{&u.ID, &inc, &at, &u.Status, &u.Message, &public, &u.Author, &key}, extra...)...); err != nil {
		return u, err
	}
	u.IncidentID, u.At, u.Public, u.DedupKey = inc.Int64, timeOfMs(at), public != 0, key.String
	return u, nil
}

func (s *Store) incidentExists(ctx context.Context, id int64) error {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM incidents WHERE id = ?`, id).Scan(&n); err != nil {
		return fmt.Errorf("read incident #%d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("incident #%d: %w", id, ErrNotFound)
	}
	return nil
}

// IncidentUpdates returns incident id's updates, public or not, oldest
// first (ErrNotFound for an unknown incident).
func (s *Store) IncidentUpdates(ctx context.Context, id int64) ([]Update, error) {
	if err := s.incidentExists(ctx, id); err != nil {
		return nil, err
	}
	m, err := s.UpdatesOf(ctx, []int64{id}, false)
	return m[id], err
}

// idChunk bounds the ids of one IN list.
const idChunk = 500

func inList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return strings.TrimSuffix(strings.Repeat("?,", len(ids)), ","), args
}

// UpdatesOf returns the updates of incidents ids by incident, oldest first;
// only the public ones when publicOnly.
func (s *Store) UpdatesOf(ctx context.Context, ids []int64, publicOnly bool) (map[int64][]Update, error) {
	out := map[int64][]Update{}
	for len(ids) > 0 {
		n := min(len(ids), idChunk)
		list, args := inList(ids[:n])
		ids = ids[n:]
		q := `SELECT ` + updateCols + ` FROM incident_updates WHERE incident_id IN (` + list + `)`
		if publicOnly {
			q += ` AND public = 1`
		}
		rows, err := s.r.QueryContext(ctx, q+` ORDER BY at, id`, args...)
		if err != nil {
			return nil, fmt.Errorf("read incident updates: %w", err)
		}
		for rows.Next() {
			u, err := scanUpdate(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("read incident updates: %w", err)
			}
			out[u.IncidentID] = append(out[u.IncidentID], u)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read incident updates: %w", err)
		}
	}
	return out, nil
}

// PublicUpdates returns the public updates and announcements made at or
// after since, newest first, with their incident's check: the entries of
// /feed.xml. shown, when not nil, keeps the updates of the checks it
// accepts (announcements always) before at most limit (0: all) are taken,
// so that a hidden check's updates never push out the others.
func (s *Store) PublicUpdates(ctx context.Context, since time.Time, limit int, shown func(check string) bool) ([]PublicUpdate, error) {
	q := `SELECT ` + publicUpdateCols + ` WHERE u.public = 1 AND u.at >= ? ORDER BY u.at DESC, u.id DESC`
	args := []any{msOf(since)}
	if limit > 0 && shown == nil {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read public updates: %w", err)
	}
	defer rows.Close()
	var out []PublicUpdate
	for (limit <= 0 || len(out) < limit) && rows.Next() {
		var p PublicUpdate
		if p.Update, err = scanUpdate(rows, &p.Check); err != nil {
			return nil, fmt.Errorf("read public updates: %w", err)
		}
		if shown == nil || p.IncidentID == 0 || shown(p.Check) {
			out = append(out, p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read public updates: %w", err)
	}
	return out, nil
}

// SetPostmortem writes (or rewrites) incident id's postmortem, markdown
// body, now, by author; public shows it on the status page, the API and
// the feed. ErrNotFound for an unknown incident.
func (s *Store) SetPostmortem(ctx context.Context, id int64, body, author string, public bool) (Postmortem, error) {
	if s.readOnly {
		return Postmortem{}, ErrReadOnly
	}
	pm := Postmortem{IncidentID: id, Body: body, WrittenAt: s.now(), Author: author, Public: public}
	if strings.TrimSpace(body) == "" {
		return pm, fmt.Errorf("postmortem of incident #%d: empty", id)
	}
	if len(body) > MaxPostmortem {
		return pm, fmt.Errorf("postmortem of incident #%d: %d bytes, at most %d", id, len(body), MaxPostmortem)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.wrap(tx).Incident(id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO postmortems(incident_id, body, written_at, author, public) VALUES(?, ?, ?, ?, ?)
			ON CONFLICT(incident_id) DO UPDATE SET body = excluded.body, written_at = excluded.written_at,
			author = excluded.author, public = excluded.public`,
			id, body, msOf(pm.WrittenAt), author, boolInt(public))
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return pm, err
		}
		return pm, fmt.Errorf("write postmortem of incident #%d: %w", id, err)
	}
	return pm, nil
}

const postmortemCols = `incident_id, body, written_at, author, public`

func scanPostmortem(sc scanner, extra ...any) (Postmortem, error) {
	var p Postmortem
	var at, public int64
	if err := sc.Scan(append([]any{&p.IncidentID, &p.Body, &at, &p.Author, &public}, extra...)...); err != nil {
		return p, err
	}
	p.WrittenAt, p.Public = timeOfMs(at), public != 0
	return p, nil
}

// Postmortem returns incident id's postmortem; ErrNotFound when none was
// written (or the incident is unknown).
func (s *Store) Postmortem(ctx context.Context, id int64) (Postmortem, error) {
	p, err := scanPostmortem(s.r.QueryRowContext(ctx, `SELECT `+postmortemCols+` FROM postmortems WHERE incident_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("postmortem of incident #%d: %w", id, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("read postmortem of incident #%d: %w", id, err)
	}
	return p, nil
}

// Postmortems returns the postmortems of incidents ids by incident; only
// the public ones when publicOnly.
func (s *Store) Postmortems(ctx context.Context, ids []int64, publicOnly bool) (map[int64]Postmortem, error) {
	out := map[int64]Postmortem{}
	for len(ids) > 0 {
		n := min(len(ids), idChunk)
		list, args := inList(ids[:n])
		ids = ids[n:]
		q := `SELECT ` + postmortemCols + ` FROM postmortems WHERE incident_id IN (` + list + `)`
		if publicOnly {
			q += ` AND public = 1`
		}
		rows, err := s.r.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("read postmortems: %w", err)
		}
		for rows.Next() {
			p, err := scanPostmortem(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("read postmortems: %w", err)
			}
			out[p.IncidentID] = p
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read postmortems: %w", err)
		}
	}
	return out, nil
}

// PostmortemsWritten returns the postmortems last written in [from, to),
// oldest first, with their incident's check and severity: the digests'
// "Postmortems written".
func (s *Store) PostmortemsWritten(ctx context.Context, from, to time.Time) ([]WrittenPostmortem, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT p.incident_id, p.body, p.written_at, p.author, p.public, i.check_name, i.severity
		FROM postmortems p JOIN incidents i ON i.id = p.incident_id
		WHERE p.written_at >= ? AND p.written_at < ? ORDER BY p.written_at, p.incident_id`, msOf(from), msOf(to))
	if err != nil {
		return nil, fmt.Errorf("read postmortems: %w", err)
	}
	defer rows.Close()
	var out []WrittenPostmortem
	for rows.Next() {
		var w WrittenPostmortem
		if w.Postmortem, err = scanPostmortem(rows, &w.Check, &w.Severity); err != nil {
			return nil, fmt.Errorf("read postmortems: %w", err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read postmortems: %w", err)
	}
	return out, nil
}

// PastIncidents returns the resolved incidents opened at or after since of
// the checks shown (nil: all), newest first, at most limit (0: all), each
// with its public updates and its postmortem if public: the status page's
// history; more is how many others of the checks shown there are. The
// updates and postmortems are read for those returned only.
func (s *Store) PastIncidents(ctx context.Context, since time.Time, limit int, shown func(check string) bool) (past []PastIncident, more int, err error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, check_name FROM incidents
		WHERE status = 'resolved' AND opened_at >= ? ORDER BY opened_at DESC, id DESC`, msOf(since))
	if err != nil {
		return nil, 0, fmt.Errorf("read past incidents: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var check string
		if err := rows.Scan(&id, &check); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("read past incidents: %w", err)
		}
		switch {
		case shown != nil && !shown(check):
		case limit > 0 && len(ids) == limit:
			more++
		default:
			ids = append(ids, id)
		}
	}
	if err := rows.Close(); err != nil {
		return nil, 0, fmt.Errorf("read past incidents: %w", err)
	}
	byID := make(map[int64]Incident, len(ids))
	for rest := ids; len(rest) > 0; {
		n := min(len(rest), idChunk)
		list, args := inList(rest[:n])
		rest = rest[n:]
		incs, err := collectIncidents(s.r.QueryContext(ctx, `SELECT `+incidentCols+` FROM incidents WHERE id IN (`+list+`)`, args...))
		if err != nil {
			return nil, 0, err
		}
		for _, in := range incs {
			byID[in.ID] = in
		}
	}
	incs := make([]Incident, 0, len(ids))
	for _, id := range ids {
		if in, ok := byID[id]; ok { // gone meanwhile (retention): left out
			incs = append(incs, in)
		}
	}
	ids = ids[:0]
	for i := range incs {
		ids = append(ids, incs[i].ID)
	}
	ups, err := s.UpdatesOf(ctx, ids, true)
	if err != nil {
		return nil, 0, err
	}
	pms, err := s.Postmortems(ctx, ids, true)
	if err != nil {
		return nil, 0, err
	}
	out := make([]PastIncident, len(incs))
	for i := range incs {
		out[i] = PastIncident{Incident: incs[i], Updates: ups[incs[i].ID]}
		if pm, ok := pms[incs[i].ID]; ok {
			out[i].Postmortem = &pm
		}
	}
	return out, more, nil
}
