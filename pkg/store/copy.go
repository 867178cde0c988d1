package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pulse-monitor/pulse/pkg/redact"
)

// copyTables are the tables CopyToPostgres copies, parents before the
// tables that refer to them (incident_events and outbox name incidents).
// pulse_schema is not among them: Open writes the target's own.
var copyTables = []string{
	"checks", "messages", "results", "latest", "rollups", "rollups_daily", "check_state", "pings",
	"incidents", "incident_events", "outbox", "silences", "meta",
	"incident_updates", "postmortems", "subscribers", "annotations",
}

// identityTables are the tables whose id PostgreSQL hands out (an
// identity column), so the copy must move it past the copied ids.
// autoincrement says SQLite's sqlite_sequence may hold a larger id than
// the largest left (a deleted newest row) that must not be handed out again.
var identityTables = []struct {
	table         string
	autoincrement bool
}{
	{"checks", false}, {"messages", false}, {"incidents", true}, {"incident_events", false},
	{"outbox", true}, {"silences", true},
	{"incident_updates", true}, {"subscribers", true}, {"annotations", true},
}

// copyProgressEvery is how many rows of one table pass between two
// progress reports within it.
const copyProgressEvery = 500_000

// CopyOptions configure CopyToPostgres.
type CopyOptions struct {
	// Progress, when set, is told how the copy goes: within a long table
	// every so many rows, and once when a table is copied (Done). It is
	// called from the goroutine that feeds the copy, one call at a time,
	// and should return quickly.
	Progress func(CopyProgress)
}

// CopyProgress is a report of CopyOptions.Progress.
type CopyProgress struct {
	Table string
	Rows  int64 // copied so far
	Total int64 // rows of the table in the SQLite file
	Done  bool  // the table is copied
}

// TableCount is the number of rows copied of one table.
type TableCount struct {
	Table string
	Rows  int64
}

// CopyStats is what CopyToPostgres copied.
type CopyStats struct {
	Source  string       // the SQLite file
	Target  string       // the PostgreSQL URL, password hidden
	Schema  int          // the schema version of both
	Tables  []TableCount // in copy order
	Rows    int64        // all tables
	Elapsed time.Duration
}

// CopyToPostgres copies the pulse history in the SQLite file at sqlitePath
// into the PostgreSQL database at url, ids and all, so that an agent
// pointed at url carries on where the SQLite one stopped.
//
// It refuses a file whose schema is not exactly this binary's (start
// `pulse run` once with this binary to upgrade it: the copy never writes
// the file), and refuses while an agent runs on the file or on url (it
// holds both agent locks until it ends). It creates the tables at url (Open
// migrates them) and refuses when they already hold any row: the copy
// never merges. All rows go in one PostgreSQL transaction, by COPY, read
// from one SQLite snapshot a row at a time; the row count of every table is
// compared with the file's and the identity sequences are moved past the
// copied ids before COMMIT. On any error (ctx ended too) the transaction
// is rolled back and the target holds no rows.
func CopyToPostgres(ctx context.Context, sqlitePath, url string, opts CopyOptions) (CopyStats, error) {
	start := time.Now()
	where := redact.URL(url)
	stats := CopyStats{Source: sqlitePath, Target: where}
	if IsPostgres(sqlitePath) {
		return stats, fmt.Errorf("copy: the source must be a SQLite file, not %s", redact.URL(sqlitePath))
	}
	if !IsPostgres(url) {
		return stats, fmt.Errorf("copy: the target must be a postgres:// URL, not %s", redact.Text(url))
	}
	if fi, err := os.Stat(sqlitePath); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return stats, fmt.Errorf("copy: no SQLite database at %s", sqlitePath)
		}
		return stats, fmt.Errorf("copy: %s: %w", sqlitePath, pathErr(err))
	} else if !fi.Mode().IsRegular() {
		return stats, fmt.Errorf("copy: %s is not a SQLite database file", sqlitePath)
	}

	// No agent may write the file while it is read, nor the target while
	// it is filled.
	lock, err := LockAgent(sqlitePath)
	if err != nil {
		return stats, fmt.Errorf("copy: %w", err)
	}
	defer lock.Unlock()
	pgLock, err := LockCopy(url)
	if err != nil {
		return stats, fmt.Errorf("copy: %w", err)
	}
	defer pgLock.Unlock()

	// Read-only: refuses a schema other than this binary's, with a message
	// saying how to upgrade it.
	src, err := Open(sqlitePath, Options{ReadOnly: true})
	if err != nil {
		return stats, fmt.Errorf("copy: %w", err)
	}
	defer src.Close()
	stats.Schema = SchemaVersion()

	dst, err := Open(url, Options{})
	if err != nil {
		return stats, fmt.Errorf("copy: %s", redact.Text(err.Error()))
	}
	if err := dst.Close(); err != nil {
		return stats, fmt.Errorf("copy: %s", redact.Text(err.Error()))
	}

	// One read transaction: every table from the same snapshot, even if
	// `pulse ack` or `pulse silence` writes the file meanwhile.
	stx, err := src.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return stats, fmt.Errorf("copy: read %s: %w", sqlitePath, err)
	}
	defer stx.Rollback()
	if err := checkSourceTables(ctx, stx); err != nil {
		return stats, fmt.Errorf("copy: %s: %w", sqlitePath, err)
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return stats, fmt.Errorf("copy: connect to %s: %s", where, redact.Text(err.Error()))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ptx, err := conn.Begin(ctx)
	if err != nil {
		return stats, fmt.Errorf("copy: %s: %s", where, redact.Text(err.Error()))
	}
	defer ptx.Rollback(context.WithoutCancel(ctx))
	// Commands that do not take the agent lock (pulse silence add...)
	// wait until the copy ends instead of taking the ids it brings.
	if _, err := ptx.Exec(ctx, `LOCK TABLE `+strings.Join(copyTables, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		return stats, fmt.Errorf("copy: lock the tables of %s: %s", where, redact.Text(err.Error()))
	}
	if err := checkEmpty(ctx, ptx, where); err != nil {
		return stats, err
	}

	for _, table := range copyTables {
		n, err := copyTable(ctx, stx, ptx, table, opts.Progress)
		if err != nil {
			return stats, fmt.Errorf("copy: table %s: %s (rolled back: %s holds no rows)", table, redact.Text(err.Error()), where)
		}
		stats.Tables = append(stats.Tables, TableCount{Table: table, Rows: n})
		stats.Rows += n
	}
	if err := restartIdentities(ctx, stx, ptx); err != nil {
		return stats, fmt.Errorf("copy: %s (rolled back: %s holds no rows)", redact.Text(err.Error()), where)
	}
	if err := ptx.Commit(ctx); err != nil {
		return stats, fmt.Errorf("copy: commit to %s: %s (if it was lost on the way, the next copy says whether the target holds rows)", where, redact.Text(err.Error()))
	}
	stats.Elapsed = time.Since(start)
	return stats, nil
}

// checkSourceTables makes sure the file holds no table the copy would
// leave behind: a new migration must add its tables to copyTables.
func checkSourceTables(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		if !slices.Contains(copyTables, name) {
			return fmt.Errorf("table %s is not one this pulse knows how to copy", name)
		}
	}
	return rows.Err()
}

// checkEmpty refuses a target holding any row: the copy brings ids that
// must not meet others.
func checkEmpty(ctx context.Context, tx pgx.Tx, where string) error {
	var held []string
	for _, table := range copyTables {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+table+` LIMIT 1000) t`).Scan(&n); err != nil {
			return fmt.Errorf("copy: read %s of %s: %s", table, where, redact.Text(err.Error()))
		}
		if n > 0 {
			more := ""
			if n == 1000 {
				more = "+"
			}
			held = append(held, fmt.Sprintf("%d%s %s", n, more, table))
		}
	}
	if len(held) > 0 {
		return fmt.Errorf("copy: %s already holds pulse data (%s): copy only into an empty database or schema "+
			"(e.g. CREATE SCHEMA pulse2 and add search_path=pulse2 to the URL); nothing was copied",
			where, strings.Join(held, ", "))
	}
	return nil
}

// column is a column of a PostgreSQL table, and how to turn what SQLite
// returns for it into what its type takes.
type column struct {
	name string
	typ  string // information_schema data_type
}

func pgColumns(ctx context.Context, tx pgx.Tx, table string) ([]column, error) {
	rows, err := tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, err
	}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		err := r.Scan(&c.name, &c.typ)
		return c, err
	})
	if err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("no table %s in the target's schema", table)
	}
	return cols, nil
}

func sqliteColumns(ctx context.Context, tx *sql.Tx, table string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// copyTable streams table from SQLite into PostgreSQL and checks that the
// target holds as many rows as the source.
func copyTable(ctx context.Context, stx *sql.Tx, ptx pgx.Tx, table string, progress func(CopyProgress)) (int64, error) {
	cols, err := pgColumns(ctx, ptx, table)
	if err != nil {
		return 0, err
	}
	srcCols, err := sqliteColumns(ctx, stx, table)
	if err != nil {
		return 0, err
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	if !slices.Equal(slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(srcCols))) {
		return 0, fmt.Errorf("columns differ: SQLite has %v, PostgreSQL %v", srcCols, names)
	}
	var total int64
	if err := stx.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&total); err != nil {
		return 0, err
	}
	rows, err := stx.QueryContext(ctx, `SELECT "`+strings.Join(names, `", "`)+`" FROM `+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cs := &copySource{rows: rows, cols: cols, vals: make([]any, len(cols)), ptrs: make([]any, len(cols)),
		table: table, total: total, progress: progress}
	for i := range cs.vals {
		cs.ptrs[i] = &cs.vals[i]
	}
	n, err := ptx.CopyFrom(ctx, pgx.Identifier{table}, names, cs)
	if err != nil {
		return 0, err
	}
	var have int64
	if err := ptx.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&have); err != nil {
		return 0, err
	}
	if n != total || cs.n != total || have != total {
		return 0, fmt.Errorf("the SQLite file holds %d rows, %d were read, %d copied and the target holds %d", total, cs.n, n, have)
	}
	if progress != nil {
		progress(CopyProgress{Table: table, Rows: n, Total: total, Done: true})
	}
	return n, nil
}

// copySource feeds pgx's COPY from SQLite rows, one row in memory at a time.
type copySource struct {
	rows       *sql.Rows
	cols       []column
	vals, ptrs []any
	err        error

	table    string
	n, total int64
	progress func(CopyProgress)
}

func (c *copySource) Next() bool {
	if c.err != nil || !c.rows.Next() {
		return false
	}
	if err := c.rows.Scan(c.ptrs...); err != nil {
		c.err = err
		return false
	}
	for i, col := range c.cols {
		v, err := convert(c.vals[i], col.typ)
		if err != nil {
			c.err = fmt.Errorf("row %d, column %s: %w", c.n+1, col.name, err)
			return false
		}
		c.vals[i] = v
	}
	c.n++
	if c.progress != nil && c.n%copyProgressEvery == 0 {
		c.progress(CopyProgress{Table: c.table, Rows: c.n, Total: c.total})
	}
	return true
}

func (c *copySource) Values() ([]any, error) { return c.vals, nil }

func (c *copySource) Err() error {
	if c.err != nil {
		return c.err
	}
	return c.rows.Err()
}

// convert turns a value as SQLite returns it (int64, float64, string,
// []byte or nil, whatever the column's declared type) into one of the
// PostgreSQL column's type.
func convert(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "bigint", "integer", "smallint":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if i := int64(x); float64(i) == x {
				return i, nil
			}
		}
	case "double precision", "real":
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	case "text":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	case "bytea":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	default:
		return nil, fmt.Errorf("column type %s is not one the copy knows", typ)
	}
	return nil, fmt.Errorf("%T value %v does not fit a %s column", v, v, typ)
}

// restartIdentities moves the identity sequences past the copied ids (and
// past ids SQLite's AUTOINCREMENT handed out to rows since deleted), in
// the transaction: a rollback leaves them as they were.
func restartIdentities(ctx context.Context, stx *sql.Tx, ptx pgx.Tx) error {
	var hasSeq bool
	if err := stx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM sqlite_master WHERE name = 'sqlite_sequence'`).Scan(&hasSeq); err != nil {
		return fmt.Errorf("read sqlite_sequence: %w", err)
	}
	for _, it := range identityTables {
		var next int64
		if err := ptx.QueryRow(ctx, `SELECT coalesce(max(id), 0) + 1 FROM `+it.table).Scan(&next); err != nil {
			return fmt.Errorf("identity of %s: %w", it.table, err)
		}
		if it.autoincrement && hasSeq {
			var seq sql.NullInt64
			err := stx.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = ?`, it.table).Scan(&seq)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("read sqlite_sequence of %s: %w", it.table, err)
			}
			if seq.Valid && seq.Int64+1 > next {
				next = seq.Int64 + 1
			}
		}
		// ALTER TABLE is transactional, unlike setval.
		if _, err := ptx.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN id RESTART WITH %d`, it.table, next)); err != nil {
			return fmt.Errorf("identity of %s: %w", it.table, err)
		}
	}
	return nil
}
