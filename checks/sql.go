package checks

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "github.com/mattn/go-sqlite3"    // registers the "sqlite3" database/sql driver

	"github.com/pulse-monitor/pulse/pkg/config"
)

// Pool sizes: a check runs one query at a time, so two connections cover a
// sql check and a metric check sharing a DSN without ever flooding a server
// that thousands of checks point at.
const (
	sqlMaxConns        = 2
	sqlConnMaxIdleTime = 5 * time.Minute
	// sqlConnMaxLifetime recycles connections now and then so that a
	// fail-over behind a DNS name or a proxy is picked up.
	sqlConnMaxLifetime = 30 * time.Minute
)

// sqlDriverName maps the config's driver names to database/sql's.
func sqlDriverName(kind string) (string, bool) {
	switch kind {
	case "postgres":
		return "pgx", true
	case "mysql":
		return "mysql", true
	case "sqlite":
		return "sqlite3", true
	}
	return "", false
}

// SQLPools shares database handles between checks, one per driver and DSN.
// Each handle is a small bounded pool, opened on first use; database/sql
// replaces connections that died between runs. The zero value is ready to
// use and safe for concurrent use; Close releases every handle.
type SQLPools struct {
	logger *slog.Logger // driver chatter, at debug level; nil discards it
	mu     sync.Mutex
	dbs    map[sqlPoolKey]*sql.DB
	closed bool
}

type sqlPoolKey struct{ driver, dsn string }

// NewSQLPools returns an empty set of pools whose drivers log to logger
// (nil: nowhere) instead of to stderr.
func NewSQLPools(logger *slog.Logger) *SQLPools { return &SQLPools{logger: logger} }

// errSQLPoolsClosed is returned by DB after Close.
var errSQLPoolsClosed = errors.New("sql pools are closed")

// DB returns the shared handle for a database/sql driver name and DSN,
// opening it on first use.
func (p *SQLPools) DB(driverName, dsn string) (*sql.DB, error) {
	k := sqlPoolKey{driverName, dsn}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errSQLPoolsClosed
	}
	if db, ok := p.dbs[k]; ok {
		return db, nil
	}
	db, err := p.open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(sqlMaxConns)
	db.SetMaxIdleConns(sqlMaxConns)
	db.SetConnMaxIdleTime(sqlConnMaxIdleTime)
	db.SetConnMaxLifetime(sqlConnMaxLifetime)
	if p.dbs == nil {
		p.dbs = make(map[sqlPoolKey]*sql.DB)
	}
	p.dbs[k] = db
	return db, nil
}

func (p *SQLPools) open(driverName, dsn string) (*sql.DB, error) {
	if driverName != "mysql" {
		return sql.Open(driverName, dsn)
	}
	// go-sql-driver/mysql prints to stderr through a global logger unless
	// each connector gets its own.
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	logger := p.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = sqlDriverLog{logger: logger, scrub: newSQLScrubber("mysql", dsn)}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

// sqlDriverLog adapts a driver's Print-style logger to slog.
type sqlDriverLog struct {
	logger *slog.Logger
	scrub  sqlScrubber
}

var _ mysql.Logger = sqlDriverLog{}

func (l sqlDriverLog) Print(v ...any) {
	l.logger.Debug("database driver", "driver", "mysql", "message", l.scrub.clean(strings.TrimSpace(fmt.Sprint(v...))))
}

// Len returns how many handles are open.
func (p *SQLPools) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.dbs)
}

// Close closes every handle; DB fails afterwards. Errors name the driver
// only, never the DSN.
func (p *SQLPools) Close() error {
	p.mu.Lock()
	dbs := p.dbs
	p.dbs, p.closed = nil, true
	p.mu.Unlock()
	var errs []error
	for k, db := range dbs {
		if err := db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s pool: %w", k.driver, err))
		}
	}
	return errors.Join(errs...)
}

// sqlSource runs one query and reads the first column of its first row; the
// sql kind and metric checks with source = "sql" share it.
type sqlSource struct {
	driverName string // database/sql's name
	dsn        string // as opened (sqlite: read-only URI)
	query      string
	pools      *SQLPools
	scrub      sqlScrubber
	now        func() time.Time
}

func newSQLSource(c *config.Check, env *Env) (*sqlSource, error) {
	name, ok := sqlDriverName(c.Driver)
	if !ok {
		return nil, fmt.Errorf("check %q: unknown driver %q (use postgres, mysql or sqlite)", c.Name, c.Driver)
	}
	raw := c.DSN.Reveal()
	scrub := newSQLScrubber(c.Driver, raw)
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("check %q: dsn is empty", c.Name)
	}
	if strings.TrimSpace(c.Query) == "" {
		return nil, fmt.Errorf("check %q: query is empty", c.Name)
	}
	dsn := raw
	switch c.Driver {
	case "postgres":
		if _, err := pgconn.ParseConfig(raw); err != nil {
			return nil, fmt.Errorf("check %q: invalid postgres dsn: %s", c.Name, scrub.clean(err.Error()))
		}
	case "mysql":
		if _, err := mysql.ParseDSN(raw); err != nil {
			return nil, fmt.Errorf("check %q: invalid mysql dsn: %s", c.Name, scrub.clean(err.Error()))
		}
	case "sqlite":
		dsn = sqliteReadOnly(raw)
	}
	pools := env.SQL
	if pools == nil {
		// Without shared pools (a caller that did not set Env.SQL) the check
		// keeps its own; connections still close after sqlConnMaxIdleTime.
		pools = NewSQLPools(env.Logger)
	}
	return &sqlSource{driverName: name, dsn: dsn, query: c.Query, pools: pools, scrub: scrub, now: env.Now}, nil
}

// sqliteReadOnly turns a path or file: URI into a URI that opens the
// database read-only: a check must never be able to write, and must not
// create a missing file.
func sqliteReadOnly(dsn string) string {
	if dsn == ":memory:" || strings.HasPrefix(dsn, "file::memory:") {
		return dsn
	}
	path, query, uri := dsn, "", false
	if rest, ok := strings.CutPrefix(dsn, "file:"); ok {
		uri = true
		path, query, _ = strings.Cut(rest, "?")
	}
	if !uri {
		// In a URI these characters end or escape the path.
		path = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	}
	var params []string
	for _, kv := range strings.Split(query, "&") {
		if kv == "" || strings.HasPrefix(kv, "mode=") {
			continue
		}
		params = append(params, kv)
	}
	params = append(params, "mode=ro")
	return "file:" + path + "?" + strings.Join(params, "&")
}

// sqlOutcome is one query's result: State is OK when Value holds the first
// column; otherwise Message says why there is no value.
type sqlOutcome struct {
	Value   float64
	Took    time.Duration
	State   State
	Message string
}

// fetch connects (or reuses a pooled connection) and runs the query under
// ctx. Pooled connections that turn out dead are replaced, so that a
// restarted database server costs no false alarm.
func (s *sqlSource) fetch(ctx context.Context) sqlOutcome {
	start := s.now()
	out := func(st State, msg string) sqlOutcome {
		return sqlOutcome{Took: s.now().Sub(start), State: st, Message: foldLines(s.scrub.clean(msg))}
	}
	db, err := s.pools.DB(s.driverName, s.dsn)
	if err != nil {
		return out(Crit, "cannot connect: "+err.Error())
	}
	for attempt := 0; ; attempt++ {
		conn, err := db.Conn(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return out(Crit, fmt.Sprintf("cannot connect: gave up after %s: %v", sqlShortDur(s.now().Sub(start)), ctx.Err()))
			}
			return out(Crit, "cannot connect: "+err.Error())
		}
		v, st, msg, dead := s.queryOn(ctx, conn)
		_ = conn.Close() // returns it to the pool, or drops it if it broke
		// Every idle connection may have died together (a server restart):
		// going through all of them reaches a fresh one.
		if dead && attempt < sqlMaxConns && ctx.Err() == nil {
			continue
		}
		o := out(st, msg)
		o.Value = v
		return o
	}
}

// queryOn runs the query on conn; dead reports a failure of the connection
// itself rather than of the query.
func (s *sqlSource) queryOn(ctx context.Context, conn *sql.Conn) (v float64, st State, msg string, dead bool) {
	rows, err := conn.QueryContext(ctx, s.query)
	if err != nil {
		return 0, Crit, s.queryFailed(ctx, err), s.connDead(ctx, conn, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, Crit, s.queryFailed(ctx, err), s.connDead(ctx, conn, err)
		}
		return 0, Unknown, "query returned no rows", false
	}
	n, err := sqlColumnCount(rows)
	if err != nil {
		return 0, Crit, s.queryFailed(ctx, err), false
	}
	var first any
	dest := make([]any, n)
	dest[0] = &first
	for i := 1; i < n; i++ {
		dest[i] = new(any)
	}
	if err := rows.Scan(dest...); err != nil {
		return 0, Unknown, "cannot read the first column: " + err.Error(), false
	}
	if err := rows.Close(); err != nil {
		return 0, Crit, s.queryFailed(ctx, err), false
	}
	v, why := sqlNumber(first)
	if why != "" {
		return 0, Unknown, why, false
	}
	return v, OK, "", false
}

func sqlColumnCount(rows *sql.Rows) (int, error) {
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	if len(cols) == 0 {
		return 0, errors.New("no columns")
	}
	return len(cols), nil
}

func (s *sqlSource) queryFailed(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return fmt.Sprintf("query cancelled: %v", ctx.Err())
	}
	return "query failed: " + err.Error()
}

// connDead tells a broken connection (server restarted, backend killed)
// from a failed query; only the former is worth a retry. Ping only runs on
// the error path.
func (s *sqlSource) connDead(ctx context.Context, conn *sql.Conn, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) {
		return true
	}
	return conn.PingContext(ctx) != nil
}

// sqlNumber reads a column value as a number, or says why it is not one.
func sqlNumber(v any) (float64, string) {
	switch x := v.(type) {
	case nil:
		return 0, "first column is NULL"
	case int64:
		return float64(x), ""
	case int32:
		return float64(x), ""
	case int:
		return float64(x), ""
	case uint64:
		return float64(x), ""
	case float64:
		return sqlFinite(x)
	case float32:
		return sqlFinite(float64(x))
	case bool:
		if x {
			return 1, ""
		}
		return 0, ""
	case []byte:
		return sqlParseNumber(string(x))
	case string:
		return sqlParseNumber(x)
	case time.Time:
		return 0, "first column is a time, not a number"
	}
	return 0, fmt.Sprintf("first column is a %T, not a number", v)
}

func sqlFinite(f float64) (float64, string) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Sprintf("first column is %v, not a number", f)
	}
	return f, ""
}

func sqlParseNumber(s string) (float64, string) {
	t := strings.TrimSpace(s)
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		if len(t) > 40 {
			t = t[:40] + "..."
		}
		return 0, fmt.Sprintf("first column %q is not a number", t)
	}
	return f, ""
}

// sqlScrubber removes a DSN's password, and the whole DSN, from text that
// drivers produce: some quote the DSN or the URL in their errors.
type sqlScrubber struct{ secrets []string }

const sqlRedacted = "<secret>"

func newSQLScrubber(kind, dsn string) sqlScrubber {
	var ss []string
	add := func(s string) {
		if s != "" {
			ss = append(ss, s)
		}
	}
	add(dsn)
	switch kind {
	case "postgres":
		if cfg, err := pgconn.ParseConfig(dsn); err == nil {
			add(cfg.Password)
		}
	case "mysql":
		if cfg, err := mysql.ParseDSN(dsn); err == nil {
			add(cfg.Passwd)
		}
	}
	// URL userinfo (postgres://u:p@h, and the mysql u:p@tcp(h) form, whose
	// password runs from the first ':' to the last '@').
	if at := strings.LastIndex(dsn, "@"); at > 0 {
		userinfo := dsn[:at]
		if i := strings.Index(userinfo, "://"); i >= 0 {
			userinfo = userinfo[i+3:]
		}
		if _, pw, ok := strings.Cut(userinfo, ":"); ok {
			add(pw)
			if dec, err := url.PathUnescape(pw); err == nil {
				add(dec)
			}
			add(url.QueryEscape(pw))
		}
	}
	// password=... in key/value DSNs and URL query parameters.
	for _, key := range []string{"password", "pass", "pwd", "_auth_pass", "sslpassword"} {
		for _, sep := range []string{"=", " = "} {
			rest := dsn
			for {
				i := sqlIndexFold(rest, key+sep)
				if i < 0 {
					break
				}
				rest = rest[i+len(key)+len(sep):]
				add(sqlDSNValue(rest))
			}
		}
	}
	// Longest first, so a password inside the DSN is not replaced before
	// the DSN itself is.
	for i := 1; i < len(ss); i++ {
		for j := i; j > 0 && len(ss[j]) > len(ss[j-1]); j-- {
			ss[j], ss[j-1] = ss[j-1], ss[j]
		}
	}
	return sqlScrubber{secrets: ss}
}

// sqlIndexFold is strings.Index ignoring ASCII case; unlike lowering the
// whole string first, its offsets stay valid for non-ASCII input.
func sqlIndexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// sqlDSNValue reads one value at the start of s: 'quoted' or up to the next
// space, '&' or ';'.
func sqlDSNValue(s string) string {
	if strings.HasPrefix(s, "'") {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch {
			case s[i] == '\\' && i+1 < len(s):
				i++
				b.WriteByte(s[i])
			case s[i] == '\'':
				return b.String()
			default:
				b.WriteByte(s[i])
			}
		}
		return b.String()
	}
	if i := strings.IndexAny(s, " &;"); i >= 0 {
		return s[:i]
	}
	return s
}

// clean replaces every secret in msg.
func (s sqlScrubber) clean(msg string) string {
	for _, sec := range s.secrets {
		if strings.Contains(msg, sec) {
			msg = strings.ReplaceAll(msg, sec, sqlRedacted)
		}
	}
	return msg
}

// sqlCheck is the sql kind: a query whose first value is judged by
// thresholds, and whose connect+query time is judged by expect.latency.
type sqlCheck struct {
	src     *sqlSource
	warn    config.Threshold
	crit    config.Threshold
	latency time.Duration // 0: no latency warning
}

var _ Checker = (*sqlCheck)(nil)

func newSQL(c *config.Check, env *Env) (Checker, error) {
	src, err := newSQLSource(c, env)
	if err != nil {
		return nil, err
	}
	lat := c.Expected().Latency.D()
	if lat == 0 {
		lat = env.Targets.SQLLatency.D()
	}
	return &sqlCheck{src: src, warn: c.WarnIf, crit: c.CritIf, latency: lat}, nil
}

// Run executes the query once.
func (k *sqlCheck) Run(ctx context.Context) Result {
	o := k.src.fetch(ctx)
	res := Result{Duration: o.Took, Perf: []Perf{{Label: "time", Value: o.Took.Seconds(), UOM: "s"}}}
	if o.State != OK {
		res.State, res.Message = o.State, o.Message
		return res
	}
	res.SetValue(o.Value)
	res.State, res.Message = thresholdState(k.warn, k.crit, o.Value)
	res.Message = "value " + res.Message + ", " + sqlShortDur(o.Took)
	if k.latency > 0 && o.Took > k.latency {
		res.State = Worse(res.State, Warn)
		res.Message += " (slower than " + sqlShortDur(k.latency) + ")"
	}
	return res
}

// thresholdState judges v against crit_if first, then warn_if, and
// describes it: "25 > 20 (crit_if)" or "3".
func thresholdState(warn, crit config.Threshold, v float64) (State, string) {
	s := metricNumber(v)
	st, key, th := matchThresholds(warn, crit, v)
	if st == OK {
		return OK, s
	}
	return st, s + " " + th.String() + " (" + key + ")"
}

// sqlShortDur rounds d for messages: 12ms, 1.25s, 340µs.
func sqlShortDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Microsecond).String()
}
