package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pulse-monitor/pulse/pkg/redact"
)

// Several agents sharing a PostgreSQL database write outbox rows that
// another one (the holder of the notifier's channel lease) sends. The
// writer's own dispatcher is woken in-process after the commit (OnCommit);
// the others hear of it through LISTEN/NOTIFY: Tx.Enqueue notifies the
// schema's outbox channel with the notifier's name as the payload, which
// PostgreSQL delivers when, and only if, the transaction commits (and once
// per distinct payload in a transaction).

// outboxChannel is the NOTIFY channel of the outbox of schema: a hash of
// the schema keeps pulse installations in several schemas of one database
// from waking each other, and the name well under PostgreSQL's 63 bytes.
func outboxChannel(schema string) string {
	h := sha256.Sum256([]byte(schema))
	return "pulse_outbox_" + hex.EncodeToString(h[:8])
}

// enqueued notifies the outbox channel in tx: delivered at commit, to the
// listeners of this schema (ListenOutbox).
func (e *pgEngine) enqueued(tx *sql.Tx, notifier string) error {
	_, err := tx.Exec(`SELECT pg_notify(?, ?)`, e.channel, notifier)
	return err
}

// Listener timings: how long connecting and LISTEN may take, how long a
// quiet connection waits before it is checked, how long the check may
// take, and the backoff between attempts to connect again.
var (
	listenConnect    = 10 * time.Second
	listenIdle       = 30 * time.Second
	listenPing       = 5 * time.Second
	listenRetryFirst = 100 * time.Millisecond
	listenRetryMax   = 5 * time.Second
)

// ListenOutbox calls wake with the notifier of each outbox row another
// process (or this one) commits, until ctx ends. It listens on a
// connection of its own; when that drops (the server restarted, the
// network cut) it connects again with backoff. Each time it starts
// listening, the first time included, it calls wake with "": rows may
// have been committed while it was not listening. wake runs on the
// listener's goroutine and should not block.
//
// On SQLite it returns at once: the only writer is this process, which
// wakes its dispatcher itself.
func (s *Store) ListenOutbox(ctx context.Context, wake func(notifier string)) {
	pg, ok := s.eng.(*pgEngine)
	if !ok {
		return
	}
	retry := listenRetryFirst
	for ctx.Err() == nil {
		err := pg.listen(ctx, wake, func() { retry = listenRetryFirst })
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("outbox listener: not listening; connecting again", "database", s.path,
			"in", retry, "err", redact.Text(err.Error()))
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		retry = min(2*retry, listenRetryMax)
	}
}

// listen runs one connection's LISTEN until it fails or ctx ends; it calls
// listening once the channel is listened to.
func (e *pgEngine) listen(ctx context.Context, wake func(string), listening func()) error {
	sctx, cancel := context.WithTimeout(ctx, listenConnect)
	defer cancel()
	conn, err := pgx.Connect(sctx, e.url)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(sctx, "LISTEN "+pgx.Identifier{e.channel}.Sanitize()); err != nil {
		return err
	}
	listening()
	wake("")
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if n != nil {
				wake(n.Payload)
			}
			continue
		case ctx.Err() != nil:
			return nil
		case !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed():
			return err
		}
		// Quiet for listenIdle: make sure the connection is still there (a
		// partition shows no error until TCP gives up, minutes later).
		pctx, cancel := context.WithTimeout(ctx, listenPing)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}
