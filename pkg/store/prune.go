package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// PruneStats says what a Prune removed.
type PruneStats struct {
	Results   int64 // raw results deleted, by age and by size
	BySize    int64 // of which deleted to get under maxSize
	Rollups   int64 // hourly and daily
	Messages  int64
	FreedSize int64 // bytes the file and its WAL shrank
	Size      int64 // bytes on disk afterwards
}

const (
	pruneChunk  = 5000 // rows per DELETE: a few milliseconds of the write connection
	vacuumPages = 512  // pages per incremental_vacuum step
)

// Prune deletes raw results older than retention (none when retention is
// 0), hourly and daily rollups older than RollupRetention and messages no kept result uses;
// then, while the database is larger than maxSize (no limit when 0), the
// oldest raw results of all checks. Freed pages are returned to the file
// system with incremental vacuum. Every statement is short and the writer's
// batches run between them, so the agent is never held up for more than a
// few milliseconds at a time.
func (s *Store) Prune(ctx context.Context, now time.Time, retention time.Duration, maxSize int64) (PruneStats, error) {
	var st PruneStats
	if s.readOnly {
		return st, ErrReadOnly
	}
	before, err := s.Size()
	if err != nil {
		return st, err
	}
	ids, err := s.checkIDs(ctx)
	if err != nil {
		return st, err
	}
	if retention > 0 {
		n, err := s.deleteResultsBefore(ctx, ids, msOf(now.Add(-retention)))
		st.Results += n
		if err != nil {
			return st, err
		}
		// A message still used has last_ts within an hour of its newest use.
		res, err := s.w.ExecContext(ctx, `DELETE FROM messages WHERE last_ts < ?`, msOf(now.Add(-retention-2*time.Hour)))
		if err != nil {
			return st, fmt.Errorf("prune messages: %w", err)
		}
		st.Messages, _ = res.RowsAffected()
	}
	// On a day boundary, so that a day's daily row and its hours go together.
	cut := floorDiv(hourOf(now.Add(-RollupRetention)), dayHours) * dayHours
	for _, id := range ids {
		n, err := s.deleteChunked(ctx, `DELETE FROM rollups WHERE check_id = ?1 AND hour < ?2 AND hour < coalesce(
			(SELECT hour FROM rollups WHERE check_id = ?1 AND hour < ?2 ORDER BY hour LIMIT 1 OFFSET ?3), ?2)`, id, cut)
		st.Rollups += n
		if err != nil {
			return st, fmt.Errorf("prune rollups: %w", err)
		}
		n, err = s.deleteChunked(ctx, `DELETE FROM rollups_daily WHERE check_id = ?1 AND day < ?2 AND day < coalesce(
			(SELECT day FROM rollups_daily WHERE check_id = ?1 AND day < ?2 ORDER BY day LIMIT 1 OFFSET ?3), ?2)`, id, floorDiv(cut, dayHours))
		st.Rollups += n
		if err != nil {
			return st, fmt.Errorf("prune daily rollups: %w", err)
		}
	}
	if err := s.eng.reclaim(ctx, s); err != nil {
		return st, err
	}
	if maxSize > 0 {
		n, err := s.pruneToSize(ctx, ids, maxSize)
		st.Results += n
		st.BySize = n
		if err != nil {
			return st, err
		}
	}
	if st.Size, err = s.Size(); err != nil {
		return st, err
	}
	st.FreedSize = before - st.Size
	if st.Results+st.Rollups+st.Messages > 0 {
		s.log.Info("pruned database", "results", st.Results, "by_size", st.BySize, "rollups", st.Rollups,
			"messages", st.Messages, "freed_bytes", st.FreedSize, "size_bytes", st.Size)
	}
	return st, nil
}

func (s *Store) checkIDs(ctx context.Context) ([]int64, error) {
	rows, err := s.w.QueryContext(ctx, `SELECT id FROM checks ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("prune: list checks: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("prune: list checks: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// deleteResultsBefore deletes, check by check (the key is (check_id, ts)),
// the results that started before cutMs.
func (s *Store) deleteResultsBefore(ctx context.Context, ids []int64, cutMs int64) (int64, error) {
	var total int64
	for _, id := range ids {
		n, err := s.deleteChunked(ctx, `DELETE FROM results WHERE check_id = ?1 AND ts < ?2 AND ts < coalesce(
			(SELECT ts FROM results WHERE check_id = ?1 AND ts < ?2 ORDER BY ts LIMIT 1 OFFSET ?3), ?2)`, id, cutMs)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune results: %w", err)
		}
	}
	return total, nil
}

// deleteChunked runs q (which deletes at most ?3 rows of check ?1 below ?2)
// until it deletes less than a chunk. Each run is its own transaction.
func (s *Store) deleteChunked(ctx context.Context, q string, id, cut int64) (int64, error) {
	var total int64
	for {
		res, err := s.w.ExecContext(ctx, q, id, cut, s.pruneChunk)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		if n < int64(s.pruneChunk) {
			return total, nil
		}
	}
}

// pruneToSize deletes the oldest raw results of all checks, an estimated
// number of hours at a time, until the database's pages (the file after a
// checkpoint) fit in maxSize.
func (s *Store) pruneToSize(ctx context.Context, ids []int64, maxSize int64) (int64, error) {
	var total int64
	step := time.Hour
	for {
		used, err := s.eng.usedBytes(ctx, s)
		if err != nil {
			return total, err
		}
		if used <= maxSize {
			return total, nil
		}
		var oldest sql.NullInt64
		if err := s.w.QueryRowContext(ctx, `SELECT min((SELECT ts FROM results WHERE check_id = c.id ORDER BY ts LIMIT 1))
			FROM checks c`).Scan(&oldest); err != nil {
			return total, fmt.Errorf("prune to size: %w", err)
		}
		if !oldest.Valid {
			s.log.Warn("database larger than max_db_size without any raw result left", "size_bytes", used, "max_bytes", maxSize)
			return total, nil
		}
		n, err := s.deleteResultsBefore(ctx, ids, oldest.Int64+step.Milliseconds())
		total += n
		if err != nil {
			return total, err
		}
		if err := s.eng.reclaim(ctx, s); err != nil {
			return total, err
		}
		after, err := s.eng.usedBytes(ctx, s)
		if err != nil {
			return total, err
		}
		// Size the next step from what this one freed; double it when
		// nothing was freed (a sparse stretch of history).
		if freed := used - after; freed > 0 && after > maxSize {
			perHour := float64(freed) / step.Hours()
			step = time.Duration(float64(after-maxSize)/perHour*float64(time.Hour)) + time.Hour
			step = step.Truncate(time.Hour)
		} else {
			step *= 2
		}
	}
}
