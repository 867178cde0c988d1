package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Update is one line people write about an incident (or, with IncidentID
// 0, a maintenance announcement): a status and a message, public when it
// is shown on the status page and sent to subscribers.
type Update struct {
	ID         int64
	IncidentID int64 // 0: maintenance announcement
	At         time.Time
	Status     string
	Message    string
	Public     bool
	Author     string
	DedupKey   string
}

// AddUpdate stores u (its ID is ignored) and returns the id the database
// assigned.
func (s *Store) AddUpdate(ctx context.Context, u Update) (int64, error) {
	if s.readOnly {
		return 0, ErrReadOnly
	}
	var inc, dedup any
	if u.IncidentID != 0 {
		inc = u.IncidentID
	}
	if u.DedupKey != "" {
		dedup = u.DedupKey
	}
	var id int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRow(`INSERT INTO incident_updates(incident_id, at, status, message, public, author, dedup_key)
			VALUES(?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			inc, msOf(u.At), u.Status, u.Message, u.Public, u.Author, dedup).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("add update: %w", err)
	}
	return id, nil
}
