package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrationFiles are the numbered schema steps, applied in order: NNNN_what.sql
// moves the database from version NNNN-1 to NNNN. migrations/ is SQLite's
// (the version is PRAGMA user_version), migrations_postgres/ PostgreSQL's
// (the version is the row of pulse_schema): the same tables and columns in
// each engine's types, one file for one file. Add a file to both to change
// the schema; never edit one that has shipped.
//
//go:embed migrations/*.sql migrations_postgres/*.sql
var migrationFiles embed.FS

const (
	sqliteMigrations   = "migrations"
	postgresMigrations = "migrations_postgres"
)

type migration struct {
	version int
	name    string
	sql     string
}

// migrations reads the embedded files and checks that they are numbered
// 1, 2, 3... without gaps.
func migrations(dir string) ([]migration, error) {
	ents, err := migrationFiles.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range ents {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration %s: name is not NNNN_what.sql", name)
		}
		b, err := migrationFiles.ReadFile(path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected number %04d", m.name, i+1)
		}
	}
	return ms, nil
}

// SchemaVersion is the newest SQLite schema this binary knows (its last
// migration).
func SchemaVersion() int {
	ms, err := migrations(sqliteMigrations)
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate brings the database to the newest schema in one transaction. The
// version is read inside the (immediate) transaction, so two processes
// opening the same new file at once migrate it exactly once.
func migrate(ctx context.Context, db *sql.DB, dbPath string) error {
	ms, err := migrations(sqliteMigrations)
	if err != nil {
		return err
	}
	var have int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("open database %s: %w", dbPath, err)
	}
	if have > len(ms) {
		return &SchemaError{Path: dbPath, Have: have, Known: len(ms)}
	}
	if have == len(ms) {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate database %s: %w", dbPath, err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("migrate database %s: %w", dbPath, err)
	}
	if have > len(ms) {
		return &SchemaError{Path: dbPath, Have: have, Known: len(ms)}
	}
	for _, m := range ms[have:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate database %s: %s: %w", dbPath, m.name, err)
		}
		// user_version lives in the file header and is transactional.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
			return fmt.Errorf("migrate database %s: %s: %w", dbPath, m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate database %s: %w", dbPath, err)
	}
	return nil
}

// checkSchema refuses, for a read-only open, a database whose schema is not
// exactly this binary's.
func checkSchema(ctx context.Context, db *sql.DB, dbPath string) error {
	var have int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("open database %s: %w", dbPath, err)
	}
	if known := SchemaVersion(); have != known {
		return &SchemaError{Path: dbPath, Have: have, Known: known}
	}
	return nil
}
