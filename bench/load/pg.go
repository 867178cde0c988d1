package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// pgSchema is the fresh schema one run of -store writes to: the agents'
// URL is the base URL with search_path set to it.
type pgSchema struct {
	base, name string
	db         *sql.DB // the tool's own connection, on the base URL
}

func newPGSchema(base string, r int) (*pgSchema, error) {
	db, err := sql.Open("pgx", base)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	s := &pgSchema{base: base, db: db, name: fmt.Sprintf("pulse_load_%d_%d_%d", os.Getpid(), time.Now().Unix(), r)}
	if _, err := db.Exec(`CREATE SCHEMA ` + s.name); err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema %s: %w", s.name, err)
	}
	return s, nil
}

// URL is the base URL with search_path=<schema>.
func (s *pgSchema) URL() (string, error) {
	u, err := url.Parse(s.base)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", s.name)
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// close drops the schema unless keep.
func (s *pgSchema) close(keep bool) error {
	defer s.db.Close()
	if keep {
		fmt.Println("kept schema:", s.name)
		return nil
	}
	_, err := s.db.Exec(`DROP SCHEMA ` + s.name + ` CASCADE`)
	return err
}

// pgStorage fills p's stored rows (results of the load's checks with ts in
// [a, b)) and, after VACUUM ANALYZE, the sizes behind bytes per result.
func (s *pgSchema) storage(p *phase, a, b time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t := s.name + "."
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+t+`results r JOIN `+t+`checks c ON c.id = r.check_id
		WHERE c.name LIKE 'c-%' AND r.ts >= $1 AND r.ts < $2`, a.UnixMilli(), b.UnixMilli()).Scan(&p.stored); err != nil {
		return fmt.Errorf("count stored results: %w", err)
	}
	// VACUUM writes the visibility map and free space map and settles the
	// statistics; it does not shrink the heap (a fresh, insert-only table
	// has nothing to reclaim). Sizes are the relation files: no checkpoint
	// is needed for them.
	if _, err := s.db.ExecContext(ctx, `VACUUM ANALYZE `+t+`results`); err != nil {
		return fmt.Errorf("vacuum results: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+t+`results`).Scan(&p.results); err != nil {
		return fmt.Errorf("count results: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT pg_relation_size($1), pg_indexes_size($1), pg_total_relation_size($1)`,
		t+"results").Scan(&p.pgHeap, &p.pgIndexes, &p.pgTotal); err != nil {
		return fmt.Errorf("size of results: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`,
		s.name).Scan(&p.dbBytes); err != nil {
		return fmt.Errorf("size of schema: %w", err)
	}
	return nil
}

// pgCPU is the CPU time so far of every process whose command is
// postgres (the postmaster and its backends), by pid.
func pgCPU() (map[int]time.Duration, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	m := map[int]time.Duration{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		if c, err := cpuTime(pid); err == nil {
			m[pid] = c
		}
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("no postgres process in /proc")
	}
	return m, nil
}

// pgCPUDelta is the CPU postgres processes used between two snapshots: a
// process in both counts after − before, one started in between all of
// its time; one that ended in between is lost (gone counts them).
func pgCPUDelta(before, after map[int]time.Duration) (cpu time.Duration, gone, born int) {
	for pid, c := range after {
		if c0, ok := before[pid]; ok {
			cpu += c - c0
		} else {
			cpu += c
			born++
		}
	}
	for pid := range before {
		if _, ok := after[pid]; !ok {
			gone++
		}
	}
	return cpu, gone, born
}

// appName is the application_name the agents connect with, so that their
// backends can be told from other clients' on a shared server.
const appName = "pulse-load"

// otherBackends adds to m the pids of the client backends that are not the
// agents' (other clients of a shared server, and this tool's connection).
func (s *pgSchema) otherBackends(m map[int]bool) error {
	rows, err := s.db.Query(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name <> $1`, appName)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return err
		}
		m[pid] = true
	}
	return rows.Err()
}

// without returns m without the pids in drop.
func without(m map[int]time.Duration, drop map[int]bool) map[int]time.Duration {
	n := make(map[int]time.Duration, len(m))
	for pid, c := range m {
		if !drop[pid] {
			n[pid] = c
		}
	}
	return n
}
