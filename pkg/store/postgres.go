package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pulse-monitor/pulse/pkg/redact"
)

// PostgreSQL runs the same SQL as SQLite, through a driver that rewrites
// SQLite's placeholders (? and ?N) into PostgreSQL's ($N) once per
// statement text; what differs beyond that lives in pgEngine.

// IsPostgres reports whether target names a PostgreSQL database (a
// postgres:// or postgresql:// URL) rather than a SQLite file.
func IsPostgres(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

// pgEngine is a PostgreSQL database. Its tables live in the connection's
// search_path (a URL parameter), so several pulse installations can share a
// server, each in a schema of its own.
type pgEngine struct {
	url string // as given; never printed (it may hold a password)
	// channel is the LISTEN/NOTIFY channel of the outbox of this schema
	// (see outboxChannel).
	channel string
}

func (pgEngine) name() string { return "PostgreSQL" }

// idleTxTimeout ends, on the server, a transaction of the store whose
// client has gone silent in the middle of it. A fenced write holds its
// lease row FOR KEY SHARE until its transaction ends, and a takeover claims
// with SKIP LOCKED: an agent partitioned from the database (its packets
// dropped, no reset) in the middle of a fenced write would otherwise keep
// that shard or channel from every other agent until the server's TCP
// keepalive gives up (hours). No transaction of the store waits on its
// client that long; a URL that sets the parameter keeps its value.
const (
	idleTxParam   = "idle_in_transaction_session_timeout"
	idleTxTimeout = "5s"
)

// openPostgres connects the store's two pools: w for the writer and the
// other writes, r for reads. The writer keeps one connection, as on SQLite:
// its batches are the agent's write order.
func openPostgres(s *Store, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("open database %s: %s", s.path, redact.Text(err.Error()))
	}
	if _, set := cfg.RuntimeParams[idleTxParam]; !set {
		cfg.RuntimeParams[idleTxParam] = idleTxTimeout
	}
	eng := &pgEngine{url: url}
	s.eng = eng
	s.w = sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)})
	s.w.SetMaxOpenConns(2)
	s.w.SetMaxIdleConns(2)
	s.r = sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)})
	s.r.SetMaxOpenConns(readConns)
	s.r.SetMaxIdleConns(readConns)
	ctx := context.Background()
	var schema sql.NullString
	if err := s.r.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("open database %s: %w", s.path, err)
	}
	eng.channel = outboxChannel(schema.String)
	if s.readOnly {
		return eng.checkSchema(ctx, s.r, s.path)
	}
	return eng.migrate(ctx, s.w, s.path)
}

// advisoryKeySQL is the advisory lock key named by ?1 in the current
// schema, so that pulse installations in several schemas of one database
// do not lock each other out.
const advisoryKeySQL = `SELECT hashtextextended(?1 || ' in ' || current_schema(), 0)`

func (pgEngine) version(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var exists bool
	if err := q.QueryRowContext(ctx, `SELECT to_regclass('pulse_schema') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := q.QueryRowContext(ctx, `SELECT version FROM pulse_schema`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

func (e pgEngine) migrate(ctx context.Context, db *sql.DB, where string) error {
	ms, err := migrations(postgresMigrations)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("open database %s: %w", where, err)
	}
	defer tx.Rollback()
	// Agents starting at once migrate one at a time.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock((`+advisoryKeySQL[len("SELECT "):]+`))`,
		"pulse schema migration"); err != nil {
		return fmt.Errorf("migrate database %s: %w", where, err)
	}
	have, err := e.version(ctx, tx)
	if err != nil {
		return fmt.Errorf("migrate database %s: %w", where, err)
	}
	if have > len(ms) {
		return &SchemaError{Path: where, Have: have, Known: len(ms)}
	}
	if have == len(ms) {
		return nil
	}
	if have == 0 {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE pulse_schema (version integer NOT NULL)`); err != nil {
			return fmt.Errorf("migrate database %s: %w", where, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO pulse_schema(version) VALUES(0)`); err != nil {
			return fmt.Errorf("migrate database %s: %w", where, err)
		}
	}
	for _, m := range ms[have:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate database %s: %s: %w", where, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pulse_schema SET version = ?`, m.version); err != nil {
			return fmt.Errorf("migrate database %s: %s: %w", where, m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate database %s: %w", where, err)
	}
	return nil
}

func (e pgEngine) checkSchema(ctx context.Context, db *sql.DB, where string) error {
	have, err := e.version(ctx, db)
	if err != nil {
		return fmt.Errorf("open database %s: %w", where, err)
	}
	ms, err := migrations(postgresMigrations)
	if err != nil {
		return err
	}
	if have != len(ms) {
		return &SchemaError{Path: where, Have: have, Known: len(ms)}
	}
	return nil
}

// checkpoint: PostgreSQL checkpoints on its own.
func (pgEngine) checkpoint(context.Context, *Store) error { return nil }

// pulseTables are the tables whose sizes are the database's size.
const pgSizeSQL = `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = current_schema() AND c.relkind = 'r'`

// size is what pulse's tables take, indexes and TOAST included.
func (pgEngine) size(ctx context.Context, s *Store) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, pgSizeSQL).Scan(&n); err != nil {
		return 0, fmt.Errorf("size of database %s: %w", s.path, err)
	}
	return n, nil
}

func (e pgEngine) usedBytes(ctx context.Context, s *Store) (int64, error) { return e.size(ctx, s) }

// reclaim: autovacuum makes deleted rows' space reusable; the files do not
// shrink, which is PostgreSQL's way (VACUUM FULL is an operator's call).
func (pgEngine) reclaim(context.Context, *Store) error { return nil }

// recordFault: data and integrity errors (SQLSTATE classes 22 and 23),
// statement errors (42) and a plain Go error (a record's Apply) come from
// one record; a lost connection, a server shutting down or out of disk
// (classes 08, 53, 57, 58) would hit any.
func (pgEngine) recordFault(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "22", "23", "42", "P0":
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.Timeout(err), pgconn.SafeToRetry(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		strings.Contains(err.Error(), "conn closed"), strings.Contains(err.Error(), "conn busy"):
		return false
	}
	return true
}

// forUpdate locks the rows a write transaction reads before changing them:
// on PostgreSQL two processes' transactions run side by side, on SQLite
// the write lock is taken at BEGIN.
func (pgEngine) forUpdate() string { return " FOR UPDATE" }

// messageKey: the text's md5, see migrations_postgres/0001_init.sql.
func (pgEngine) messageKey() string { return "(md5(text))" }

// pgConnector opens pgx connections wrapped in pgConn.
type pgConnector struct{ c driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.c.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &pgConn{Conn: conn.(*stdlib.Conn)}, nil
}

func (c pgConnector) Driver() driver.Driver { return c.c.Driver() }

// pgConn is a pgx connection that takes the store's SQLite-style SQL: the
// placeholders are rewritten, and bool arguments (0/1 columns in both
// schemas) are passed as integers.
type pgConn struct {
	*stdlib.Conn
	staging bool // results_in exists in this session
}

func (c *pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

func (c *pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c *pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c *pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

func (c *pgConn) CheckNamedValue(nv *driver.NamedValue) error {
	if b, ok := nv.Value.(bool); ok {
		nv.Value = int64(0)
		if b {
			nv.Value = int64(1)
		}
	}
	return nil
}

// copyResults writes a batch's results (rows of seq, check_id, ts, dur,
// state, value, msg, perf) in conn's open transaction: COPY into a
// session-local staging table, then one INSERT that keeps the last row of
// each (check, start) like the SQLite statement's upsert does.
func copyResults(ctx context.Context, conn *sql.Conn, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	err := conn.Raw(func(dc any) error {
		c := dc.(*pgConn)
		pc := c.Conn.Conn()
		if !c.staging {
			if _, err := pc.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS results_in (seq bigint, check_id bigint,
				ts bigint, dur bigint, state bigint, value double precision, msg bigint, perf bytea)
				ON COMMIT DELETE ROWS`); err != nil {
				return err
			}
			c.staging = true
		}
		if _, err := pc.CopyFrom(ctx, pgx.Identifier{"results_in"},
			[]string{"seq", "check_id", "ts", "dur", "state", "value", "msg", "perf"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		_, err := pc.Exec(ctx, `INSERT INTO results(check_id, ts, dur, state, value, msg, perf)
			SELECT DISTINCT ON (check_id, ts) check_id, ts, dur, state, value, msg, perf
			FROM results_in ORDER BY check_id, ts, seq DESC
			ON CONFLICT(check_id, ts) DO UPDATE SET dur = excluded.dur, state = excluded.state,
			value = excluded.value, msg = excluded.msg, perf = excluded.perf`)
		return err
	})
	if err != nil {
		return fmt.Errorf("insert results: %w", err)
	}
	return nil
}

// rebound caches rebind's answers: the store has a few dozen statements.
var rebound sync.Map // string → string

// rebind rewrites ? and ?N placeholders outside string literals, quoted
// identifiers and comments into $N.
func rebind(q string) string {
	if v, ok := rebound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	next := 1
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				b.WriteString(q[i:])
				i = len(q)
				continue
			}
			b.WriteString(q[i : i+j+2])
			i += j + 1
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j - 1
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			b.WriteByte('$')
			if j > i+1 {
				b.WriteString(q[i+1 : j])
				n, _ := strconv.Atoi(q[i+1 : j])
				next = max(next, n+1)
			} else {
				b.WriteString(strconv.Itoa(next))
				next++
			}
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	rebound.Store(q, out)
	return out
}
