package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Silence is one `pulse silence add`: notifications of the checks Pattern
// selects are muted until Until.
type Silence struct {
	ID        int64
	Pattern   string // glob on check names, or "tag:GLOB"
	Until     time.Time
	Reason    string
	CreatedBy string
	CreatedAt time.Time
}

// AddSilence stores sl (its ID is ignored) and returns its id.
func (s *Store) AddSilence(ctx context.Context, sl Silence) (int64, error) {
	if s.readOnly {
		return 0, ErrReadOnly
	}
	var id int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO silences(pattern, until, reason, created_by, created_at)
			VALUES(?, ?, ?, ?, ?) RETURNING id`,
			sl.Pattern, msOf(sl.Until), sl.Reason, sl.CreatedBy, msOf(sl.CreatedAt)).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("add silence %q: %w", sl.Pattern, err)
	}
	return id, nil
}

// Silences returns the silences still in force at now, by id.
func (s *Store) Silences(ctx context.Context, now time.Time) ([]Silence, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, pattern, until, reason, created_by, created_at
		FROM silences WHERE until > ? ORDER BY id`, msOf(now))
	if err != nil {
		return nil, fmt.Errorf("read silences: %w", err)
	}
	defer rows.Close()
	var out []Silence
	for rows.Next() {
		var sl Silence
		var until, created int64
		if err := rows.Scan(&sl.ID, &sl.Pattern, &until, &sl.Reason, &sl.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("read silences: %w", err)
		}
		sl.Until, sl.CreatedAt = timeOfMs(until), timeOfMs(created)
		out = append(out, sl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read silences: %w", err)
	}
	return out, nil
}

// RemoveSilence deletes silence id (ErrNotFound when there is none).
func (s *Store) RemoveSilence(ctx context.Context, id int64) error {
	if s.readOnly {
		return ErrReadOnly
	}
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM silences WHERE id = ?`, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("remove silence %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("silence %d: %w", id, ErrNotFound)
	}
	return nil
}
