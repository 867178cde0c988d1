package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/pulse-monitor/pulse/pkg/acklink"
	"github.com/pulse-monitor/pulse/pkg/notify"
)

// Kinds of subscribers.
const (
	SubscriberEmail   = "email"
	SubscriberWebhook = "webhook"
)

// MetaFannedOut is the meta key of the fan-out's cursor: the id of the
// last public update queued for subscribers.
const MetaFannedOut = "subscriptions.fanned_out"

// Bounds of a subscriber's address.
const (
	MaxSubscriberEmail = 254  // RFC 5321's path limit
	MaxSubscriberURL   = 2048 // a webhook URL
)

// ParseSubscriberEmail accepts one bare address (no display name, no
// group) for an email subscriber: the status page's form and `pulse
// subscribers add --email` take the same.
func ParseSubscriberEmail(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return "", errors.New("enter an email address")
	case len(raw) > MaxSubscriberEmail:
		return "", fmt.Errorf("an email address has at most %d characters", MaxSubscriberEmail)
	case strings.IndexFunc(raw, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0:
		return "", errors.New("an email address has no spaces or control characters")
	}
	a, err := mail.ParseAddress(raw)
	if err != nil || a.Name != "" || a.Address != raw || !strings.Contains(a.Address[strings.LastIndexByte(a.Address, '@')+1:], ".") {
		return "", errors.New("enter one address like name@example.com")
	}
	return a.Address, nil
}

// CheckSubscriberURL accepts a webhook subscriber's URL: absolute http(s)
// with a host, no spaces or control characters. POST /api/v1/subscribers
// and `pulse subscribers add --webhook` take the same.
func CheckSubscriberURL(raw string) error {
	if len(raw) > MaxSubscriberURL {
		return fmt.Errorf("at most %d characters", MaxSubscriberURL)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return errors.New("want an absolute http:// or https:// URL")
	}
	if strings.IndexFunc(raw, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return errors.New("no spaces or control characters")
	}
	return nil
}

// ErrNoSubscriber is the error for a subscriber id that does not exist
// (never did, or removed).
var ErrNoSubscriber = errors.New("no such subscriber")

// Subscriber is someone told of the status page's public updates.
type Subscriber struct {
	ID          int64
	Kind        string // SubscriberEmail or SubscriberWebhook
	Address     string // email address or URL
	CreatedAt   time.Time
	ConfirmedAt time.Time // zero until confirmed
}

// Confirmed reports whether the subscriber gets updates.
func (s Subscriber) Confirmed() bool { return !s.ConfirmedAt.IsZero() }

// AddSubscriber adds kind/address, confirmed at once when confirmed is
// set (a webhook added with the API token), and returns it. It is
// idempotent: adding an address again returns the existing subscriber
// (confirming it when confirmed is set) with created false.
func (s *Store) AddSubscriber(ctx context.Context, kind, address string, confirmed bool) (sub Subscriber, created bool, err error) {
	if s.readOnly {
		return Subscriber{}, false, ErrReadOnly
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		sub, created, err = s.addSubscriber(tx, kind, address, confirmed)
		return err
	})
	if err != nil {
		return Subscriber{}, false, fmt.Errorf("add subscriber: %w", err)
	}
	return sub, created, nil
}

func (s *Store) addSubscriber(tx *sql.Tx, kind, address string, confirmed bool) (Subscriber, bool, error) {
	if kind != SubscriberEmail && kind != SubscriberWebhook {
		return Subscriber{}, false, fmt.Errorf("unknown subscriber kind %q", kind)
	}
	now := msOf(s.now())
	var conf any
	if confirmed {
		conf = now
	}
	// Look first: an insert that conflicts still takes an id from the
	// sequence, and the ids people see would skip for every repeat.
	var n int64
	var one int
	switch err := tx.QueryRow(`SELECT 1 FROM subscribers WHERE kind = ? AND address = ?`, kind, address).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		res, err := tx.Exec(`INSERT INTO subscribers(kind, address, created_at, confirmed_at) VALUES(?, ?, ?, ?)
			ON CONFLICT(kind, address) DO NOTHING`, kind, address, now, conf)
		if err != nil {
			return Subscriber{}, false, err
		}
		n, _ = res.RowsAffected()
	case err != nil:
		return Subscriber{}, false, err
	}
	if n == 0 && confirmed {
		if _, err := tx.Exec(`UPDATE subscribers SET confirmed_at = ? WHERE kind = ? AND address = ? AND confirmed_at IS NULL`,
			now, kind, address); err != nil {
			return Subscriber{}, false, err
		}
	}
	sub, err := scanSubscriber(tx.QueryRow(`SELECT id, kind, address, created_at, confirmed_at FROM subscribers
		WHERE kind = ? AND address = ?`, kind, address))
	return sub, n > 0, err
}

// SubscribeEmail adds address as an unconfirmed email subscriber and, in
// the same transaction, queues its opt-in mail, unless one was queued
// within the last hour or the address is confirmed already (so a form
// posted again and again does not flood someone's inbox). The answer does
// not say which happened: the status page must not tell who subscribed.
func (s *Store) SubscribeEmail(ctx context.Context, address string) error {
	if s.readOnly {
		return ErrReadOnly
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		sub, _, err := s.addSubscriber(tx, SubscriberEmail, address, false)
		if err != nil || sub.Confirmed() {
			return err
		}
		ch := notify.SubscriberChannel(sub.ID)
		var recent int
		if err := tx.QueryRow(`SELECT count(*) FROM outbox WHERE notifier = ? AND created_at > ? AND event = ?`,
			ch, msOf(s.now().Add(-time.Hour)), notify.EventSubscriberConfirm).Scan(&recent); err != nil {
			return err
		}
		if recent > 0 {
			return nil
		}
		// The sign-up's time is its latest request: an unconfirmed one is
		// forgotten ConfirmTTL after it (FanOutUpdates), when the link
		// this mail carries has expired.
		if _, err := tx.Exec(`UPDATE subscribers SET created_at = ? WHERE id = ?`, msOf(s.now()), sub.ID); err != nil {
			return err
		}
		_, err = s.wrap(tx).Enqueue(OutboxEntry{Notifier: ch, DueAt: s.now(),
			Item: notify.Item{Event: notify.EventSubscriberConfirm, At: s.now()}})
		return err
	})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	return nil
}

// Subscriber returns subscriber id, or ErrNoSubscriber.
func (s *Store) Subscriber(ctx context.Context, id int64) (Subscriber, error) {
	sub, err := scanSubscriber(s.r.QueryRowContext(ctx, `SELECT id, kind, address, created_at, confirmed_at
		FROM subscribers WHERE id = ?`, id))
	if err != nil {
		return Subscriber{}, fmt.Errorf("subscriber #%d: %w", id, err)
	}
	return sub, nil
}

// Subscribers returns every subscriber, by id.
func (s *Store) Subscribers(ctx context.Context) ([]Subscriber, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, kind, address, created_at, confirmed_at FROM subscribers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list subscribers: %w", err)
	}
	defer rows.Close()
	var out []Subscriber
	for rows.Next() {
		sub, err := scanSubscriber(rows)
		if err != nil {
			return nil, fmt.Errorf("list subscribers: %w", err)
		}
		out = append(out, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list subscribers: %w", err)
	}
	return out, nil
}

// ConfirmSubscriber marks subscriber id confirmed (again: a link used twice
// changes nothing) and returns it, or ErrNoSubscriber.
func (s *Store) ConfirmSubscriber(ctx context.Context, id int64) (Subscriber, error) {
	if s.readOnly {
		return Subscriber{}, ErrReadOnly
	}
	var sub Subscriber
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE subscribers SET confirmed_at = ? WHERE id = ? AND confirmed_at IS NULL`,
			msOf(s.now()), id); err != nil {
			return err
		}
		var err error
		sub, err = scanSubscriber(tx.QueryRow(`SELECT id, kind, address, created_at, confirmed_at
			FROM subscribers WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return Subscriber{}, fmt.Errorf("confirm subscriber #%d: %w", id, err)
	}
	return sub, nil
}

// RemoveSubscriber deletes subscriber id and retires its pending messages,
// those waiting for a retry too (an unsubscribed address gets nothing
// more), and
// returns what it removed, or ErrNoSubscriber.
func (s *Store) RemoveSubscriber(ctx context.Context, id int64) (Subscriber, error) {
	if s.readOnly {
		return Subscriber{}, ErrReadOnly
	}
	var sub Subscriber
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		sub, err = scanSubscriber(tx.QueryRow(`SELECT id, kind, address, created_at, confirmed_at
			FROM subscribers WHERE id = ?`+s.eng.forUpdate(), id))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE outbox SET status = 'superseded' WHERE notifier = ? AND status = 'pending'`,
			notify.SubscriberChannel(id)); err != nil {
			return err
		}
		_, err = tx.Exec(`DELETE FROM subscribers WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return Subscriber{}, fmt.Errorf("remove subscriber #%d: %w", id, err)
	}
	return sub, nil
}

// FanOutUpdates queues, in one transaction, one outbox row per confirmed
// subscriber for each public update written since the last fan-out (the
// cursor in meta, MetaFannedOut), and advances the cursor. It returns how
// many rows it queued.
//
// Rate limit: a subscriber gets at most maxPerHour rows an hour (all its
// rows count, the opt-in mail too). The last one allowed says so in its
// Note; updates beyond it are skipped for that subscriber, not delayed:
// they are on the status page, and a queue of stale updates sent an hour
// later would help nobody.
//
// It also deletes the sign-ups left unconfirmed acklink.ConfirmTTL after
// their last opt-in mail.
//
// A first fan-out (no cursor yet) takes the updates of the last hour
// only: turning subscriptions on must not mail the whole history.
//
// On PostgreSQL several agents may call it at once: the transaction locks
// incident_updates (EXCLUSIVE: updates may still be read, not written)
// before reading the cursor, so the fan-outs take turns, each sees the
// cursor the previous one left, and no update commits behind the cursor
// with a lower id than one already fanned out.
func (s *Store) FanOutUpdates(ctx context.Context, maxPerHour int) (int, error) {
	if s.readOnly {
		return 0, ErrReadOnly
	}
	if maxPerHour < 1 {
		maxPerHour = 1
	}
	// The agent asks every few seconds; mostly there is nothing to do, and
	// a read says so without the write transaction (on SQLite the results'
	// one writer, on PostgreSQL the fence and the table lock). Once the
	// cursor exists: no public update past it and no sign-up to forget.
	if v, ok, err := s.GetMeta(ctx, MetaFannedOut); err != nil {
		return 0, err
	} else if ok {
		cursor, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("meta %s: %q is not an id", MetaFannedOut, v)
		}
		var work int
		if err := s.r.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM (SELECT 1 FROM incident_updates WHERE public = 1 AND id > ? LIMIT 1) u) +
			(SELECT count(*) FROM (SELECT 1 FROM subscribers WHERE confirmed_at IS NULL AND created_at < ? LIMIT 1) f)`,
			cursor, msOf(s.now().Add(-acklink.ConfirmTTL))).Scan(&work); err != nil {
			return 0, fmt.Errorf("queue updates for subscribers: %w", err)
		}
		if work == 0 {
			return 0, nil
		}
	}
	var queued int
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		queued = 0
		if _, pg := s.eng.(*pgEngine); pg {
			if _, err := tx.Exec(`LOCK TABLE incident_updates IN EXCLUSIVE MODE`); err != nil {
				return err
			}
		}
		now := s.now()
		// Sign-ups never confirmed are forgotten once their link expired:
		// a form anyone can post must not grow the table for ever.
		if _, err := tx.Exec(`DELETE FROM subscribers WHERE confirmed_at IS NULL AND created_at < ?`,
			msOf(now.Add(-acklink.ConfirmTTL))); err != nil {
			return err
		}
		var cursor int64 = -1
		var v string
		switch err := tx.QueryRow(`SELECT value FROM meta WHERE key = ?`, MetaFannedOut).Scan(&v); {
		case err == sql.ErrNoRows:
		case err != nil:
			return err
		default:
			if cursor, err = strconv.ParseInt(v, 10, 64); err != nil {
				return fmt.Errorf("meta %s: %q is not an id", MetaFannedOut, v)
			}
		}
		q := `SELECT ` + publicUpdateCols + ` WHERE u.public = 1 AND u.id > ?`
		args := []any{cursor}
		if cursor < 0 {
			q += ` AND u.at >= ?`
			args = append(args, msOf(now.Add(-time.Hour)))
		}
		ups, err := readUpdates(tx, q+` ORDER BY u.id`, args...)
		if err != nil {
			return err
		}
		last := cursor
		if cursor < 0 {
			// From now on: the cursor is the newest update, public or not.
			if err := tx.QueryRow(`SELECT COALESCE(max(id), 0) FROM incident_updates`).Scan(&last); err != nil {
				return err
			}
		}
		if len(ups) == 0 {
			if last != cursor {
				return setMeta(tx, MetaFannedOut, strconv.FormatInt(last, 10))
			}
			return nil
		}
		subs, err := confirmedSubscribers(tx)
		if err != nil {
			return err
		}
		// What each subscriber got in the last hour, 500 channels a
		// query: equality on the names uses the outbox_notifier index
		// whatever the database's collation (a range on the prefix would
		// not, and under a locale collation '/' does not sort as in C).
		since := msOf(now.Add(-time.Hour))
		sent := map[string]int{}
		for i := 0; i < len(subs); i += outboxChunk {
			chunk := subs[i:min(i+outboxChunk, len(subs))]
			args := make([]any, 0, len(chunk)+1)
			for _, id := range chunk {
				args = append(args, notify.SubscriberChannel(id))
			}
			args = append(args, since)
			rows, err := tx.Query(`SELECT notifier, count(*) FROM outbox WHERE notifier IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)
				AND created_at > ? GROUP BY notifier`, args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var ch string
				var n int
				if err := rows.Scan(&ch, &n); err != nil {
					rows.Close()
					return err
				}
				sent[ch] = n
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		items := make([]notify.Item, len(ups))
		for i, u := range ups {
			items[i] = u.item()
		}
		var batch []OutboxEntry
		for _, id := range subs {
			ch := notify.SubscriberChannel(id)
			n := sent[ch]
			for _, it := range items {
				if n >= maxPerHour {
					break
				}
				n++
				if n == maxPerHour {
					it.Note = fmt.Sprintf("This is the last update sent to you this hour (at most %d an hour); "+
						"further updates are on the status page.", maxPerHour)
				}
				batch = append(batch, OutboxEntry{Notifier: ch, DueAt: now, Item: it})
			}
		}
		if err := insertOutboxRows(tx, batch, now); err != nil {
			return err
		}
		queued = len(batch)
		if queued > 0 {
			// One notification for all the rows, not one per subscriber.
			if err := s.eng.enqueued(tx, notify.SubscriberPrefix); err != nil {
				return err
			}
		}
		last = max(last, ups[len(ups)-1].ID)
		return setMeta(tx, MetaFannedOut, strconv.FormatInt(last, 10))
	})
	if err != nil {
		return 0, fmt.Errorf("fan out updates: %w", err)
	}
	return queued, nil
}

// outboxChunk is how many rows one INSERT of insertOutboxRows writes (7
// parameters a row) and how many channels one rate-limit count reads: well
// under both engines' parameter limits.
const outboxChunk = 500

// insertOutboxRows writes es (rows about no incident) in multi-row
// INSERTs, without notifying other processes (the caller does, once).
func insertOutboxRows(tx *sql.Tx, es []OutboxEntry, now time.Time) error {
	for len(es) > 0 {
		n := min(len(es), outboxChunk)
		var b strings.Builder
		b.WriteString(`INSERT INTO outbox(notifier, incident_id, event, item, due_at, batchable, created_at) VALUES `)
		args := make([]any, 0, 7*n)
		for i, e := range es[:n] {
			item, err := json.Marshal(e.Item)
			if err != nil {
				return fmt.Errorf("queue notification to %s: %w", e.Notifier, err)
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, NULL, ?, ?, ?, ?, ?)")
			args = append(args, e.Notifier, e.Item.Event, item, msOf(e.DueAt), e.Batchable, msOf(now))
		}
		if _, err := tx.Exec(b.String(), args...); err != nil {
			return fmt.Errorf("queue notifications: %w", err)
		}
		es = es[n:]
	}
	return nil
}

// item is the outbox item of a public update to a subscriber.
func (u PublicUpdate) item() notify.Item {
	return notify.Item{
		Event: notify.EventSubscriberUpdate,
		At:    u.At,
		Incident: notify.Incident{ID: u.IncidentID, Key: "update-" + strconv.FormatInt(u.ID, 10),
			Status: u.Status, Message: u.Message},
		Check: notify.Check{Name: u.Check},
	}
}

func readUpdates(tx *sql.Tx, q string, args ...any) ([]PublicUpdate, error) {
	rows, err := tx.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PublicUpdate
	for rows.Next() {
		var u PublicUpdate
		if u.Update, err = scanUpdate(rows, &u.Check); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func confirmedSubscribers(tx *sql.Tx) ([]int64, error) {
	rows, err := tx.Query(`SELECT id FROM subscribers WHERE confirmed_at IS NOT NULL ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func scanSubscriber(row interface{ Scan(...any) error }) (Subscriber, error) {
	var sub Subscriber
	var created int64
	var conf sql.NullInt64
	if err := row.Scan(&sub.ID, &sub.Kind, &sub.Address, &created, &conf); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Subscriber{}, ErrNoSubscriber
		}
		return Subscriber{}, err
	}
	sub.CreatedAt = timeOfMs(created)
	if conf.Valid {
		sub.ConfirmedAt = timeOfMs(conf.Int64)
	}
	return sub, nil
}
