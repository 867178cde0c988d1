package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"maps"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	// also the "pgx" driver
	"github.com/pulse-monitor/pulse/checks"
)

// The PostgreSQL schema lives beside the SQLite one; these tests check that
// it says the same thing, and that pulse_hist_merge is histMergeSQL.

// pgTestDB is a PostgreSQL schema of its own migrated by Open, and a pool
// whose connections all use it, and its name. Skips without a server.
func pgTestDB(tb testing.TB) (*sql.DB, string) {
	tb.Helper()
	target := pgTarget(tb)
	s, err := Open(target, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("pgx", target)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() }) // runs before the schema is dropped
	_, schema, _ := strings.Cut(target, "search_path=")
	return db, schema
}

// pgOnlyMigrations are the steps of what only PostgreSQL has (several
// agents): SQLite's file of the same name is an empty step, so both
// engines number a later step alike.
var pgOnlyMigrations = map[string]bool{}

func TestPGMigrationFilesMatchSQLite(t *testing.T) {
	lite, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := filepath.Glob("migrations_postgres/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var a, b []string
	for _, n := range lite {
		a = append(a, filepath.Base(n))
	}
	for _, n := range pg {
		if n := filepath.Base(n); !pgOnlyMigrations[n] {
			b = append(b, n)
		}
	}
	sort.Strings(a)
	sort.Strings(b)
	if !slices.Equal(a, b) {
		t.Errorf("migrations_postgres has %v, migrations has %v: every SQLite step needs its PostgreSQL twin", b, a)
	}
}

// randHist is a random histogram of one of the shapes that matter: empty,
// one bucket, the last bucket, huge counts, every bucket, a few buckets.
func randHist(r *mrand.Rand) *Histogram {
	var h Histogram
	switch r.IntN(8) {
	case 0: // empty
	case 1:
		h[r.IntN(HistBuckets)] = 1 + r.Uint64N(1000)
	case 2:
		h[HistBuckets-1] = 1 + r.Uint64N(1<<20)
		h[r.IntN(HistBuckets)] += r.Uint64N(3)
	case 3: // counts near 2^40
		for range 1 + r.IntN(4) {
			h[r.IntN(HistBuckets)] = 1<<40 - 500 + r.Uint64N(1000)
		}
	case 4: // all 64 buckets, counts of every varint length up to 6 bytes
		for i := range h {
			h[i] = 1 + r.Uint64N(1<<(7*(1+r.IntN(6))))
		}
	default: // a steady check's hour: a few neighbouring buckets
		i := r.IntN(HistBuckets - 3)
		for j := range 1 + r.IntN(4) {
			h[i+j] = r.Uint64N(400)
		}
	}
	return &h
}

// uncanonical encodes h as decodeHist accepts but appendHist never writes:
// buckets in random order, split into several entries, zero counts, varints
// padded with 0x80 bytes (at most 10 bytes, as binary.Uvarint allows).
func uncanonical(r *mrand.Rand, h *Histogram) []byte {
	type ent struct {
		i int
		c uint64
	}
	var es []ent
	for i, c := range h {
		if c > 1 && r.IntN(3) == 0 {
			part := r.Uint64N(c)
			es = append(es, ent{i, part}, ent{i, c - part})
		} else if c != 0 || r.IntN(8) == 0 {
			es = append(es, ent{i, c})
		}
	}
	r.Shuffle(len(es), func(a, b int) { es[a], es[b] = es[b], es[a] })
	var b []byte
	for _, e := range es {
		b = append(b, byte(e.i))
		v := binary.AppendUvarint(nil, e.c)
		if pad := r.IntN(binary.MaxVarintLen64 - len(v) + 1); pad > 0 && r.IntN(2) == 0 {
			// Padding: set the high bit of the last byte, then 0x80... then 0x00.
			v[len(v)-1] |= 0x80
			for range pad - 1 {
				v = append(v, 0x80)
			}
			v = append(v, 0x00)
		}
		b = append(b, v...)
	}
	return b
}

func TestPGHistMergeMatchesGo(t *testing.T) {
	db, _ := pgTestDB(t)
	ctx := context.Background()
	st, err := db.PrepareContext(ctx, `SELECT pulse_hist_merge($1, $2)`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := mrand.New(mrand.NewPCG(1, 2))
	check := func(a, b []byte) {
		t.Helper()
		want, err := histMergeSQL(a, b)
		if err != nil {
			t.Fatalf("histMergeSQL(%x, %x): %v", a, b, err)
		}
		var got []byte
		if err := st.QueryRowContext(ctx, a, b).Scan(&got); err != nil {
			t.Fatalf("pulse_hist_merge(%x, %x): %v", a, b, err)
		}
		if got == nil {
			t.Fatalf("pulse_hist_merge(%x, %x) is NULL, want %x", a, b, want)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("pulse_hist_merge(%x, %x) = %x, histMergeSQL = %x", a, b, got, want)
		}
	}
	var all Histogram
	for i := range all {
		all[i] = uint64(i)*1000 + 1
	}
	fixed := [][]byte{
		nil, {},
		appendHist(nil, &Histogram{0: 1}),
		appendHist(nil, &Histogram{63: 1}),
		appendHist(nil, &Histogram{63: 1<<40 + 12345}),
		appendHist(nil, &Histogram{0: 127, 1: 128, 2: 16383, 3: 16384}),
		appendHist(nil, &all),
		{5, 0},             // a zero count
		{3, 1, 3, 2},       // one bucket twice
		{9, 1, 2, 1},       // out of order
		{7, 0x81, 0x80, 0}, // padded varint
		{7, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0}, // 10 bytes, zero
	}
	for _, a := range fixed {
		for _, b := range fixed {
			check(a, b)
		}
	}
	for range 3000 {
		ha, hb := randHist(r), randHist(r)
		a, b := appendHist(nil, ha), appendHist(nil, hb)
		switch r.IntN(5) {
		case 0:
			a = uncanonical(r, ha)
		case 1:
			b = uncanonical(r, hb)
		}
		check(a, b)
	}
}

func TestPGHistMergeMalformed(t *testing.T) {
	db, _ := pgTestDB(t)
	ctx := context.Background()
	good := appendHist(nil, &Histogram{3: 7})
	for _, tc := range []struct {
		name string
		b    []byte
		goOK bool // histMergeSQL accepts it (uint64 counts), PostgreSQL's bigint not
	}{
		{name: "bucket 64", b: []byte{64, 1}},
		{name: "bucket 255", b: []byte{255, 1}},
		{name: "bucket 64 after a good one", b: append(slices.Clone(good), 64, 1)},
		{name: "index without count", b: []byte{5}},
		{name: "truncated varint", b: []byte{0x05, 0x80}},
		{name: "truncated varint after a good one", b: append(slices.Clone(good), 0x05, 0xff, 0xff)},
		{name: "varint of 11 bytes", b: []byte{5, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0}},
		{name: "10th byte above 1", b: []byte{5, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 2}},
		{name: "count 2^63", b: binary.AppendUvarint([]byte{5}, 1<<63), goOK: true},
		{name: "count 2^64-1", b: binary.AppendUvarint([]byte{5}, 1<<64-1), goOK: true},
	} {
		_, goErr := histMergeSQL(tc.b, good)
		if (goErr == nil) != tc.goOK {
			t.Errorf("%s: histMergeSQL error %v, expected ok=%v", tc.name, goErr, tc.goOK)
		}
		for _, args := range [][2][]byte{{tc.b, good}, {good, tc.b}} {
			var got []byte
			err := db.QueryRowContext(ctx, `SELECT pulse_hist_merge($1, $2)`, args[0], args[1]).Scan(&got)
			if err == nil {
				t.Errorf("%s: pulse_hist_merge(%x, %x) = %x, want an error", tc.name, args[0], args[1], got)
			}
		}
	}
	// A sum beyond bigint is an error too, not a wrapped count.
	big := binary.AppendUvarint([]byte{5}, 1<<62)
	var got []byte
	if err := db.QueryRowContext(ctx, `SELECT pulse_hist_merge($1, $2)`, big, big).Scan(&got); err == nil {
		t.Errorf("pulse_hist_merge(2^62, 2^62) = %x, want an error", got)
	}
}

// pgRollupUpsertSQL is the writer's rollup upsert as PostgreSQL spells it.
const pgRollupUpsertSQL = `INSERT INTO rollups(check_id, hour, runs, failures, warn, crit, lat_sum, lat_max, hist)
	VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9)
	ON CONFLICT(check_id, hour) DO UPDATE SET runs = rollups.runs + excluded.runs,
	failures = rollups.failures + excluded.failures, warn = rollups.warn + excluded.warn,
	crit = rollups.crit + excluded.crit, lat_sum = rollups.lat_sum + excluded.lat_sum,
	lat_max = greatest(rollups.lat_max, excluded.lat_max),
	hist = pulse_hist_merge(rollups.hist, excluded.hist)`

func TestPGRollupUpsert(t *testing.T) {
	db, _ := pgTestDB(t)
	ctx := context.Background()
	r := mrand.New(mrand.NewPCG(3, 4))
	var parts [2]Rollup
	for i := range parts {
		for range 50 + r.IntN(200) {
			st := []checks.State{checks.OK, checks.OK, checks.OK, checks.Warn, checks.Unknown, checks.Crit}[r.IntN(6)]
			parts[i].Add(st, time.Duration(50+r.IntN(5000))*time.Millisecond/10)
		}
	}
	const checkID, hour = int64(7), int64(493_000)
	for _, p := range parts {
		_, err := db.ExecContext(ctx, pgRollupUpsertSQL, checkID, hour, p.Runs, p.Failures, p.Warn, p.Crit,
			p.LatencySum.Microseconds(), p.LatencyMax.Microseconds(), appendHist(nil, &p.Hist))
		if err != nil {
			t.Fatalf("rollup upsert: %v", err)
		}
	}
	// An increment for another hour stays a row of its own.
	if _, err := db.ExecContext(ctx, pgRollupUpsertSQL, checkID, hour+1, 1, 0, 0, 0, 10, 10, []byte{0, 1}); err != nil {
		t.Fatalf("rollup upsert: %v", err)
	}
	want := parts[0]
	want.Merge(&parts[1])
	var got Rollup
	var sum, mx int64
	var hist []byte
	err := db.QueryRowContext(ctx, `SELECT runs, failures, warn, crit, lat_sum, lat_max, hist FROM rollups
		WHERE check_id = $1 AND hour = $2`, checkID, hour).Scan(&got.Runs, &got.Failures, &got.Warn, &got.Crit, &sum, &mx, &hist)
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeHist(hist, &got.Hist); err != nil {
		t.Fatalf("decode merged hist %x: %v", hist, err)
	}
	got.LatencySum, got.LatencyMax = time.Duration(sum)*time.Microsecond, time.Duration(mx)*time.Microsecond
	want.LatencySum = want.LatencySum.Truncate(time.Microsecond)
	want.LatencyMax = want.LatencyMax.Truncate(time.Microsecond)
	if got != want {
		t.Errorf("rollup after two upserts:\n got %+v\nwant %+v", got, want)
	}
	if w := appendHist(nil, &want.Hist); !bytes.Equal(hist, w) {
		t.Errorf("merged hist %x, want canonical %x", hist, w)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM rollups`).Scan(&n); err != nil || n != 2 {
		t.Errorf("rollups has %d rows (%v), want 2", n, err)
	}
}

// schemaShape is what both schemas must agree on: tables with their columns
// in order, which columns may be NULL and the primary key; and the indexes
// created by name, with their table, columns and whether they are partial.
type schemaShape struct {
	tables  map[string][]string // column "name" or "name NULL", then "PK(a,b)"
	indexes map[string]string   // "table(a,b)" plus " WHERE" when partial
	checks  map[string]string   // "table.column": the values CHECK (column IN (...)) allows, sorted
}

var (
	sqliteCheckRE = regexp.MustCompile(`CHECK\s*\(\s*(\w+)\s+IN\s*\(([^)]*)\)\s*\)`)
	pgCheckRE     = regexp.MustCompile(`^CHECK \(\((\w+) = ANY \(\(?ARRAY\[(.*)\]`)
	quotedRE      = regexp.MustCompile(`'([^']*)'`)
)

// checkValues is the sorted, comma-joined quoted strings of s.
func checkValues(s string) string {
	var vs []string
	for _, m := range quotedRE.FindAllStringSubmatch(s, -1) {
		vs = append(vs, m[1])
	}
	sort.Strings(vs)
	return strings.Join(vs, ",")
}

func sqliteShape(t *testing.T) schemaShape {
	t.Helper()
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one in-memory database
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations/*.sql: %v %v", files, err)
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(b)); err != nil {
			t.Fatalf("sqlite: apply %s: %v", f, err)
		}
	}
	sh := schemaShape{tables: map[string][]string{}, indexes: map[string]string{}, checks: map[string]string{}}
	tables := queryStrings(t, db, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	for _, tb := range tables {
		rows, err := db.Query(`SELECT name, "notnull", pk FROM pragma_table_info(?) ORDER BY cid`, tb)
		if err != nil {
			t.Fatal(err)
		}
		pk := map[int]string{}
		var cols []string
		for rows.Next() {
			var name string
			var notNull, pkPos int
			if err := rows.Scan(&name, &notNull, &pkPos); err != nil {
				t.Fatal(err)
			}
			if pkPos > 0 {
				pk[pkPos] = name
			}
			// A primary key column is never NULL in PostgreSQL (nor, but
			// for SQLite's quirk of rowid tables, meant to be here).
			if notNull == 0 && pkPos == 0 {
				name += " NULL"
			}
			cols = append(cols, name)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		var pkCols []string
		for i := 1; i <= len(pk); i++ {
			pkCols = append(pkCols, pk[i])
		}
		sh.tables[tb] = append(cols, "PK("+strings.Join(pkCols, ",")+")")
		var ddl string
		if err := db.QueryRow(`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`, tb).Scan(&ddl); err != nil {
			t.Fatal(err)
		}
		for _, m := range sqliteCheckRE.FindAllStringSubmatch(ddl, -1) {
			sh.checks[tb+"."+m[1]] = checkValues(m[2])
		}
	}
	rows, err := db.Query(`SELECT name, tbl_name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	type idx struct{ name, table string }
	var idxs []idx
	for rows.Next() {
		var x idx
		if err := rows.Scan(&x.name, &x.table); err != nil {
			t.Fatal(err)
		}
		idxs = append(idxs, x)
	}
	rows.Close()
	for _, x := range idxs {
		cols := queryStrings(t, db, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, x.name)
		var partial int
		if err := db.QueryRow(`SELECT partial FROM pragma_index_list(?) WHERE name = ?`, x.table, x.name).Scan(&partial); err != nil {
			t.Fatal(err)
		}
		d := x.table + "(" + strings.Join(cols, ",") + ")"
		if partial == 1 {
			d += " WHERE"
		}
		sh.indexes[x.name] = d
	}
	return sh
}

func pgShape(t *testing.T, db *sql.DB, schema string) schemaShape {
	t.Helper()
	sh := schemaShape{tables: map[string][]string{}, indexes: map[string]string{}, checks: map[string]string{}}
	tables := queryStrings(t, db, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`, schema)
	for _, tb := range tables {
		rows, err := db.Query(`SELECT column_name, is_nullable FROM information_schema.columns
			WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, schema, tb)
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		for rows.Next() {
			var name, nullable string
			if err := rows.Scan(&name, &nullable); err != nil {
				t.Fatal(err)
			}
			if nullable == "YES" {
				name += " NULL"
			}
			cols = append(cols, name)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		pk := queryStrings(t, db, `SELECT a.attname FROM pg_constraint c
			CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
			JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
			WHERE c.contype = 'p' AND c.conrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass
			ORDER BY k.ord`, schema, tb)
		sh.tables[tb] = append(cols, "PK("+strings.Join(pk, ",")+")")
		for _, def := range queryStrings(t, db, `SELECT pg_get_constraintdef(oid) FROM pg_constraint
			WHERE contype = 'c' AND conrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass`, schema, tb) {
			m := pgCheckRE.FindStringSubmatch(def)
			if m == nil {
				t.Errorf("table %s: CHECK of an unexpected form: %s", tb, def)
				continue
			}
			sh.checks[tb+"."+m[1]] = checkValues(m[2])
		}
	}
	// Indexes created as such, not the ones behind PRIMARY KEY and UNIQUE.
	rows, err := db.Query(`SELECT ic.relname, tc.relname, i.indpred IS NOT NULL,
			coalesce((SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
			 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum), pg_get_indexdef(i.indexrelid))
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_class tc ON tc.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = tc.relnamespace
		WHERE n.nspname = $1 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, table, cols string
		var partial bool
		if err := rows.Scan(&name, &table, &partial, &cols); err != nil {
			t.Fatal(err)
		}
		d := table + "(" + cols + ")"
		if partial {
			d += " WHERE"
		}
		sh.indexes[name] = d
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return sh
}

func queryStrings(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPGSchemaMatchesSQLite(t *testing.T) {
	db, schema := pgTestDB(t)
	lite, pg := sqliteShape(t), pgShape(t, db, schema)
	if len(lite.tables) == 0 || len(lite.indexes) == 0 {
		t.Fatalf("read no tables or indexes from the SQLite schema: %+v", lite)
	}
	for tb, cols := range lite.tables {
		got, ok := pg.tables[tb]
		if !ok {
			t.Errorf("table %s: missing in PostgreSQL", tb)
			continue
		}
		if !slices.Equal(got, cols) {
			t.Errorf("table %s:\n PostgreSQL %v\n     SQLite %v", tb, got, cols)
		}
	}
	// Several agents share only a PostgreSQL database (0004_cluster.sql).
	clusterTables := map[string]bool{"agents": true, "leases": true, "pulse_schema": true}
	for tb := range pg.tables {
		if _, ok := lite.tables[tb]; !ok && !clusterTables[tb] {
			t.Errorf("table %s: only in PostgreSQL", tb)
		}
	}
	for name, d := range lite.indexes {
		if got, ok := pg.indexes[name]; !ok {
			t.Errorf("index %s on %s: missing in PostgreSQL", name, d)
		} else if got != d {
			t.Errorf("index %s: PostgreSQL %s, SQLite %s", name, got, d)
		}
	}
	// PostgreSQL's own ways of what SQLite does with a column constraint.
	pgOnly := map[string]bool{
		"messages_text_md5": true, // SQLite's UNIQUE(text): a btree entry holds at most ~2.7 kB
	}
	for name, d := range pg.indexes {
		if _, ok := lite.indexes[name]; !ok && !pgOnly[name] {
			t.Errorf("index %s on %s: only in PostgreSQL", name, d)
		}
	}
	if !maps.Equal(pg.checks, lite.checks) {
		t.Errorf("CHECK (column IN (...)) constraints:\n PostgreSQL %v\n     SQLite %v", pg.checks, lite.checks)
	}
	if len(lite.checks) == 0 {
		t.Error("read no CHECK constraints from the SQLite schema")
	}
	var fn string
	if err := db.QueryRow(`SELECT p.provolatile::text || p.proparallel::text FROM pg_proc p
		JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = 'pulse_hist_merge'`, schema).Scan(&fn); err != nil {
		t.Fatalf("pulse_hist_merge: %v", err)
	}
	if fn != "is" {
		t.Errorf("pulse_hist_merge volatility/parallel %q, want immutable, parallel safe (\"is\")", fn)
	}
}

// BenchmarkPGHistMerge measures pulse_hist_merge on the server: the merge of
// an hour's histogram of a steady check (three buckets) with an increment,
// pgMergesPerQuery times per query, so the round trip hardly counts.
func BenchmarkPGHistMerge(b *testing.B) {
	db, _ := pgTestDB(b)
	ctx := context.Background()
	const pgMergesPerQuery = 20_000
	a := appendHist(nil, &Histogram{20: 1500, 21: 1800, 22: 240})
	inc := appendHist(nil, &Histogram{20: 3, 21: 5, 22: 1})
	// CASE keeps the arguments from being constants, which an IMMUTABLE
	// function would be folded over (evaluated once at planning).
	q := `SELECT count(pulse_hist_merge(CASE WHEN g > 0 THEN $1::bytea END, CASE WHEN g > 0 THEN $2::bytea END))
		FROM generate_series(1, $3) g`
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		var n int
		if err := db.QueryRowContext(ctx, q, a, inc, pgMergesPerQuery).Scan(&n); err != nil || n != pgMergesPerQuery {
			b.Fatalf("merge query: %d, %v", n, err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*pgMergesPerQuery), "ns/merge")
}
