package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pulse-monitor/pulse/checks"
)

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT a FROM t WHERE x = ? AND y = ?`:                     `SELECT a FROM t WHERE x = $1 AND y = $2`,
		`INSERT INTO c(n, t) VALUES(?1, ?2) ON CONFLICT SET t = ?2`: `INSERT INTO c(n, t) VALUES($1, $2) ON CONFLICT SET t = $2`,
		`SELECT ?2, ?`:                          `SELECT $2, $3`,
		`SELECT '?', "a?b", ? -- what?` + "\n?": `SELECT '?', "a?b", $1 -- what?` + "\n$2",
		`SELECT 'it''s', ?`:                     `SELECT 'it''s', $1`,
		`no placeholders`:                       `no placeholders`,
	} {
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}

func pgSchemaVersion(t *testing.T, target string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgresMigrations(t *testing.T) {
	target := pgTarget(t)
	ms, err := migrations(postgresMigrations)
	if err != nil {
		t.Fatal(err)
	}
	s := openTest(t, target, Options{})
	db := pgSchemaVersion(t, target)
	var v int
	if err := db.QueryRow(`SELECT version FROM pulse_schema`).Scan(&v); err != nil || v != len(ms) {
		t.Fatalf("pulse_schema = %d, %v; want %d", v, err, len(ms))
	}
	submit(t, s, Record{Result: result("api", t0, checks.OK, time.Millisecond), State: []byte(`{"n":1}`)})
	s.Close()
	// Opening again migrates nothing and loses nothing; several at once
	// wait for each other.
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			s, err := Open(target, Options{})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
	s2 := openTest(t, target, Options{ReadOnly: true})
	if n := count(t, s2, "SELECT count(*) FROM results"); n != 1 {
		t.Errorf("results after reopen = %d, want 1", n)
	}

	if _, err := db.Exec(`UPDATE pulse_schema SET version = 99`); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		_, err := Open(target, Options{ReadOnly: ro})
		var se *SchemaError
		if !errors.As(err, &se) || se.Have != 99 || !strings.Contains(err.Error(), "written by a newer pulse") {
			t.Errorf("Open(ReadOnly: %v) of schema 99 = %v", ro, err)
		}
	}
}

func TestPostgresReadOnlyEmpty(t *testing.T) {
	target := pgTarget(t)
	_, err := Open(target, Options{ReadOnly: true})
	if err == nil || !strings.Contains(err.Error(), "has schema 0 but this pulse needs") {
		t.Fatalf("read-only Open of an empty schema = %v", err)
	}
	db := pgSchemaVersion(t, target)
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&n); err != nil || n != 0 {
		t.Errorf("read-only Open created %d tables (%v)", n, err)
	}
}

// The URL's password never reaches an error message or Path.
func TestPostgresPasswordHidden(t *testing.T) {
	pgTarget(t) // skips without a server
	target := "postgres://pulse:s3cr3t-pw@127.0.0.1:1/pulse?sslmode=disable&connect_timeout=2"
	_, err := Open(target, Options{})
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	if strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Errorf("error shows the password: %v", err)
	}
	_, err = LockAgent(target)
	if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Errorf("LockAgent = %v", err)
	}
}

// Agents share a PostgreSQL database; a copy into it excludes them.
func TestPostgresAgentLock(t *testing.T) {
	a, b := pgTarget(t), pgTarget(t)
	l1, err := LockAgent(a)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := LockAgent(a)
	if err != nil {
		t.Fatalf("a second agent on the same database: %v", err)
	}
	_, err = LockCopy(a)
	var le *LockedError
	if !errors.As(err, &le) || le.PID == 0 {
		t.Fatalf("LockCopy while agents run = %v, want a LockedError naming a holder", err)
	}
	l3, err := LockCopy(b) // another schema: another installation
	if err != nil {
		t.Fatalf("LockCopy of another schema: %v", err)
	}
	if _, err := LockAgent(b); err == nil || !strings.Contains(err.Error(), "pulse migrate") {
		t.Errorf("LockAgent during a copy = %v", err)
	}
	l3.Unlock()
	l1.Unlock()
	l2.Unlock()
	l4, err := LockCopy(a)
	if err != nil {
		t.Fatalf("LockCopy once the agents stopped: %v", err)
	}
	l4.Unlock()
}

func TestPostgresRecordFault(t *testing.T) {
	var e pgEngine
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "23502"}, true},  // not null
		{&pgconn.PgError{Code: "22003"}, true},  // out of range
		{&pgconn.PgError{Code: "42P01"}, true},  // no such table
		{&pgconn.PgError{Code: "53100"}, false}, // disk full
		{&pgconn.PgError{Code: "57P01"}, false}, // admin shutdown
		{&pgconn.PgError{Code: "08006"}, false}, // connection failure
		{fmt.Errorf("wrapped: %w", sql.ErrConnDone), false},
		{context.DeadlineExceeded, false},
		{errors.New("alert: bad plan"), true},
	} {
		if got := e.recordFault(c.err); got != c.want {
			t.Errorf("recordFault(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestPostgresFence(t *testing.T) {
	target := pgTarget(t)
	s := openTest(t, target, Options{})
	db := pgSchemaVersion(t, target)
	if _, err := db.Exec(`INSERT INTO leases(name, owner, epoch, expires_at) VALUES('shard/001', 'a', 3, now() + interval '1 minute')`); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done := func(errc chan error) func(error) { return func(err error) { errc <- err } }
	write := func(check string, f Fence) error {
		errc := make(chan error, 1)
		if err := s.Submit(Record{Result: result(check, t0, checks.OK, time.Millisecond), Fence: &f, Done: done(errc)}); err != nil {
			t.Fatal(err)
		}
		return <-errc
	}
	if err := write("held", Fence{"shard/001", "a", 3}); err != nil {
		t.Fatalf("write under the live lease: %v", err)
	}
	for _, f := range []Fence{{"shard/001", "a", 2}, {"shard/001", "b", 3}, {"shard/002", "a", 3}} {
		if err := write("stale", f); !errors.Is(err, ErrFenced) {
			t.Errorf("write under %+v = %v, want ErrFenced", f, err)
		}
	}
	if n := count(t, s, `SELECT count(*) FROM results r JOIN checks c ON c.id = r.check_id WHERE c.name = 'stale'`); n != 0 {
		t.Errorf("%d fenced results written", n)
	}

	// The store's own writes under WithFence.
	var id int64
	submit(t, s, Record{Apply: func(tx Tx) (err error) {
		id, err = tx.Enqueue(OutboxEntry{Notifier: "ops", DueAt: t0})
		return err
	}})
	stale := WithFence(ctx, Fence{"shard/001", "a", 2})
	if err := s.MarkSent(stale, []int64{id}, t0); !errors.Is(err, ErrFenced) {
		t.Errorf("MarkSent under a stale fence = %v", err)
	}
	if n, _ := s.OutboxPending(ctx); n != 1 {
		t.Errorf("%d rows pending after a fenced MarkSent, want 1", n)
	}
	if err := s.MarkSent(WithFence(ctx, Fence{"shard/001", "a", 3}), []int64{id}, t0); err != nil {
		t.Errorf("MarkSent under the live fence: %v", err)
	}

	// An expired lease fences even its holder.
	if _, err := db.Exec(`UPDATE leases SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if err := write("expired", Fence{"shard/001", "a", 3}); !errors.Is(err, ErrFenced) {
		t.Errorf("write under an expired lease = %v", err)
	}
}

// A takeover waits for the fenced transaction in flight: the write commits
// under the lease it checked, or not at all.
func TestPostgresFenceBlocksTakeover(t *testing.T) {
	target := pgTarget(t)
	s := openTest(t, target, Options{})
	db := pgSchemaVersion(t, target)
	if _, err := db.Exec(`INSERT INTO leases(name, owner, epoch, expires_at) VALUES('shard/001', 'a', 1, now() + interval '1 minute')`); err != nil {
		t.Fatal(err)
	}
	inTx, release := make(chan struct{}), make(chan struct{})
	var order []string
	var mu sync.Mutex
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	written := make(chan error, 1)
	if err := s.Submit(Record{
		Result: result("api", t0, checks.Crit, time.Second),
		Fence:  &Fence{"shard/001", "a", 1},
		Apply: func(Tx) error {
			close(inTx)
			<-release
			note("fenced write commits")
			return nil
		},
		Done: func(err error) { written <- err },
	}); err != nil {
		t.Fatal(err)
	}
	<-inTx
	took := make(chan error, 1)
	go func() {
		// As pkg/cluster claims: lock the row, then take it.
		tx, err := db.Begin()
		if err == nil {
			_, err = tx.Exec(`SELECT 1 FROM leases WHERE name = 'shard/001' FOR UPDATE`)
		}
		if err == nil {
			_, err = tx.Exec(`UPDATE leases SET owner = 'b', epoch = epoch + 1 WHERE name = 'shard/001'`)
		}
		if err == nil {
			err = tx.Commit()
		}
		note("takeover")
		took <- err
	}()
	select {
	case err := <-took:
		t.Fatalf("the takeover did not wait for the fenced transaction (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-written; err != nil {
		t.Fatalf("fenced write: %v", err)
	}
	if err := <-took; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 2 || order[0] != "fenced write commits" {
		t.Errorf("order = %v", order)
	}
}
