package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Fence is the lease a write depends on when several agents share one
// PostgreSQL database: the write commits only while the lease row named
// Lease is held by Owner at Epoch and has not expired on the database's
// clock. The check takes a FOR KEY SHARE lock on the lease row: an agent
// taking the lease over (which locks it FOR UPDATE, pkg/cluster) waits
// until the fenced transaction has ended, so a write either commits under
// a live lease or not at all, while the holder's renewals go on.
//
// On SQLite there is one agent per database (AgentLock) and fences are
// not checked.
type Fence struct {
	Lease string
	Owner string
	Epoch int64
}

// ErrFenced is the error of a write whose fence no longer holds: another
// agent has the lease now, and the write was not made.
var ErrFenced = errors.New("lease lost to another agent: write not made")

type fenceKey struct{}

// WithFence returns a context under which the store's own write
// transactions (outbox marks, pings, acks) commit only while f holds.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

func fenceFrom(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}

// liveFences returns which of fences hold, locking their lease rows until
// the end of tx. Only PostgreSQL has lease rows.
func (s *Store) liveFences(ctx context.Context, q querier, fences []Fence) (map[Fence]bool, error) {
	live := make(map[Fence]bool, len(fences))
	if _, pg := s.eng.(*pgEngine); !pg {
		for _, f := range fences {
			live[f] = true
		}
		return live, nil
	}
	if len(fences) == 0 {
		return live, nil
	}
	names := make([]any, 0, len(fences))
	seen := map[string]bool{}
	for _, f := range fences {
		if !seen[f.Lease] {
			seen[f.Lease] = true
			names = append(names, f.Lease)
		}
	}
	rows, err := q.QueryContext(ctx, `SELECT name, owner, epoch FROM leases
		WHERE name IN (?`+strings.Repeat(", ?", len(names)-1)+`) AND owner IS NOT NULL AND expires_at > clock_timestamp()
		ORDER BY name FOR KEY SHARE`, names...)
	if err != nil {
		return nil, fmt.Errorf("check leases: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f Fence
		if err := rows.Scan(&f.Lease, &f.Owner, &f.Epoch); err != nil {
			return nil, fmt.Errorf("check leases: %w", err)
		}
		live[f] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check leases: %w", err)
	}
	return live, nil
}

// Holds returns ErrFenced unless f holds, locking the lease row until the
// transaction ends (an Apply writing under a lease other than its
// record's Fence, such as the incident timer's).
func (t Tx) Holds(f Fence) error {
	live, err := t.s.liveFences(context.Background(), t.tx, []Fence{f})
	if err != nil {
		return err
	}
	if !live[f] {
		return fmt.Errorf("%s: %w", f.Lease, ErrFenced)
	}
	return nil
}
