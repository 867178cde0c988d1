package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pulse-monitor/pulse/checks"
)

// Ping kinds of RecordPing: /ping/NAME, /ping/NAME/start, /ping/NAME/fail.
const (
	PingSuccess = "success"
	PingStart   = "start"
	PingFail    = "fail"
)

// MaxPingBody is how much of a ping's body is kept.
const MaxPingBody = 10 << 10

// RecordPing stores a heartbeat ping of check, synchronously: when it
// returns nil the ping is on disk, so the listener may answer 200. Only the
// latest ping of each kind is kept (the heartbeat check's results keep the
// history). Must not be called from a Record's Apply.
func (s *Store) RecordPing(ctx context.Context, check, kind string, at time.Time, body string) error {
	if s.readOnly {
		return ErrReadOnly
	}
	switch kind {
	case PingSuccess, PingStart, PingFail:
	default:
		return fmt.Errorf("record ping of %s: unknown kind %q", check, kind)
	}
	if len(body) > MaxPingBody {
		body = body[:MaxPingBody]
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		id, err := ensureCheck(ctx, tx, check, "", msOf(at))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO pings(check_id, kind, ts, body) VALUES(?, ?, ?, ?)
			ON CONFLICT(check_id, kind) DO UPDATE SET ts = excluded.ts, body = excluded.body`,
			id, kind, msOf(at), body)
		return err
	})
	if err != nil {
		return fmt.Errorf("record ping of %s: %w", check, err)
	}
	return nil
}

// LastPings returns the latest ping of each kind for check and when pulse
// started watching it; all zero for a check never seen.
func (s *Store) LastPings(ctx context.Context, check string) (checks.PingState, error) {
	var ps checks.PingState
	rows, err := s.r.QueryContext(ctx, `SELECT c.first_seen, p.kind, p.ts
		FROM checks c LEFT JOIN pings p ON p.check_id = c.id WHERE c.name = ?`, check)
	if err != nil {
		return ps, fmt.Errorf("pings of %s: %w", check, err)
	}
	defer rows.Close()
	for rows.Next() {
		var first int64
		var kind sql.NullString
		var ts sql.NullInt64
		if err := rows.Scan(&first, &kind, &ts); err != nil {
			return ps, fmt.Errorf("pings of %s: %w", check, err)
		}
		ps.FirstSeen = timeOfMs(first)
		switch kind.String {
		case PingSuccess:
			ps.LastSuccess = timeOfMs(ts.Int64)
		case PingStart:
			ps.LastStart = timeOfMs(ts.Int64)
		case PingFail:
			ps.LastFail = timeOfMs(ts.Int64)
		}
	}
	if err := rows.Err(); err != nil {
		return ps, fmt.Errorf("pings of %s: %w", check, err)
	}
	return ps, nil
}

// WatchStart registers check (of type typ, which may be empty) and returns
// when pulse first saw it: now for a new check. A heartbeat check measures
// its first period from then, across restarts.
func (s *Store) WatchStart(ctx context.Context, check, typ string) (time.Time, error) {
	if s.readOnly {
		return time.Time{}, ErrReadOnly
	}
	var first int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		id, err := ensureCheck(ctx, tx, check, typ, msOf(s.now()))
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT first_seen FROM checks WHERE id = ?`, id).Scan(&first)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("register check %s: %w", check, err)
	}
	return timeOfMs(first), nil
}

// ensureCheck returns check's id, adding it to the dictionary when missing.
func ensureCheck(ctx context.Context, tx *sql.Tx, name, typ string, firstMs int64) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, ensureCheckSQL, name, typ, firstMs).Scan(&id)
	return id, err
}

const ensureCheckSQL = `INSERT INTO checks(name, type, first_seen) VALUES(?1, ?2, ?3)
		ON CONFLICT(name) DO UPDATE SET type = CASE WHEN ?2 = '' THEN checks.type ELSE ?2 END,
		first_seen = CASE WHEN ?3 < checks.first_seen THEN ?3 ELSE checks.first_seen END
		RETURNING id`

// writeTx runs f in a short transaction on the write connection, between
// two of the writer's batches.
func (s *Store) writeTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if fc, ok := fenceFrom(ctx); ok {
		if err := s.wrap(tx).Holds(fc); err != nil {
			return err
		}
	}
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// WatchChecks is WatchStart for many checks in one transaction (name →
// type): the agent registers every configured check at start and on reload,
// which for thousands of checks must not cost a transaction each.
func (s *Store) WatchChecks(ctx context.Context, types map[string]string) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if len(types) == 0 {
		return nil
	}
	now := msOf(s.now())
	var err error
	// Agents sharing a PostgreSQL database upsert these rows from their
	// writers too, one batch's checks in its own order: a deadlock aborts
	// one side, and registering again then goes through.
	for attempt := 1; ; attempt++ {
		err = s.watchChecks(ctx, types, now)
		if err == nil || attempt == 3 || !isDeadlock(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("register checks: %w", err)
	}
	return nil
}

// isDeadlock reports whether err is PostgreSQL's deadlock_detected.
func isDeadlock(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "40P01"
}

func (s *Store) watchChecks(ctx context.Context, types map[string]string, now int64) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		// Prepared once: preparing it per check was a fifth of a reload.
		st, err := tx.PrepareContext(ctx, ensureCheckSQL)
		if err != nil {
			return err
		}
		defer st.Close()
		var id int64
		// In name order: agents sharing a PostgreSQL database register the
		// same checks at the same time, and rows locked in map order
		// deadlock one against the other.
		for _, name := range slices.Sorted(maps.Keys(types)) {
			if err := st.QueryRowContext(ctx, name, types[name], now).Scan(&id); err != nil {
				return err
			}
		}
		return nil
	})
}
