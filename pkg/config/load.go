package config

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// maxSecretFile bounds what a *_file key may read: these hold a password or a
// URL, and a mistaken path to a huge file must not exhaust memory.
const maxSecretFile = 1 << 20

// Load reads, expands, defaults and validates the configuration at path.
// Problems in the file come back as *Errors, every one of them at once.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse is Load on data already read; path names the file in problems and
// anchors relative paths. getenv resolves ${VAR} (os.LookupEnv when nil).
func Parse(path string, data []byte, getenv func(string) (string, bool)) (cfg *Config, err error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	dir := filepath.Dir(path)
	if abs, aerr := filepath.Abs(dir); aerr == nil {
		dir = abs
	}
	l := &loader{file: path, dir: dir, getenv: getenv, seen: map[string]bool{}}
	// The decoder promises never to crash the agent on any input; a bug here
	// must surface as a problem report, not a stack trace.
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, &Errors{{File: path, Msg: fmt.Sprintf("internal error: %v (this is a bug in pulse)", r)}}
		}
	}()

	var root map[string]any
	if uerr := toml.Unmarshal(data, &root); uerr != nil {
		p := Problem{File: path, Msg: "syntax error: " + oneLine(strings.TrimPrefix(uerr.Error(), "toml: "))}
		var de *toml.DecodeError
		if errors.As(uerr, &de) {
			p.Line, p.Col = de.Position()
			if k := de.Key(); len(k) > 0 {
				p.Msg += fmt.Sprintf(" (key %q)", strings.Join(k, "."))
			}
		}
		return nil, &Errors{p}
	}
	if root == nil {
		root = map[string]any{}
	}
	l.data, l.ix = data, buildIndex(data, shallowDepth)
	l.root = root
	l.names()

	cfg = &Config{Path: path}
	l.expandTree(root)
	l.decodeStruct(nil, root, reflectValue(cfg))
	for i := range cfg.Checks {
		cfg.Checks[i].AllocFields()
	}
	l.checkApplicability(cfg)
	l.resolvePaths(cfg)
	l.fixDefaultsTable(cfg)
	l.applyDefaults(cfg)
	l.validate(cfg)
	if cfg.Agent.Store != "" && !slices.ContainsFunc(cfg.Checks, func(c Check) bool { return c.Type == "cluster" }) {
		cfg.Checks = append(cfg.Checks, implicitClusterCheck(cfg))
	}

	if len(l.problems) > 0 {
		sortProblems(l.problems)
		e := Errors(l.problems)
		return nil, &e
	}
	return cfg, nil
}

// loader carries one Parse: the raw tree, the line index and the problems found.
type loader struct {
	file   string
	dir    string
	getenv func(string) (string, bool)
	data   []byte
	ix     *lineIndex // up to shallowDepth until fullIx
	fullIx bool
	root   map[string]any

	checkNames, checkTypes       []string
	notifierNames, notifierTypes []string

	problems []Problem
	seen     map[string]bool // key paths that already have a problem
}

// line returns the line of path. Paths deeper than shallowDepth (only
// problems name them) build the full index on first use.
func (l *loader) line(path []string) int {
	if len(path) > shallowDepth && !l.fullIx {
		l.ix, l.fullIx = buildIndex(l.data, 0), true
	}
	return l.ix.line(path)
}

// names reads each check's and notifier's name and type from the raw tree, so
// that every message can say which check it is about.
func (l *loader) names() {
	read := func(key string) (names, types []string) {
		arr, _ := l.root[key].([]any)
		for _, e := range arr {
			m, _ := e.(map[string]any)
			n, _ := m["name"].(string)
			t, _ := m["type"].(string)
			names = append(names, n)
			types = append(types, t)
		}
		return names, types
	}
	l.checkNames, l.checkTypes = read("check")
	l.notifierNames, l.notifierTypes = read("notifier")
}

// table returns the raw table at path ("check", "3") or nil.
func (l *loader) table(path ...string) map[string]any {
	var cur any = l.root
	for _, seg := range path {
		switch x := cur.(type) {
		case map[string]any:
			cur = x[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			cur = x[i]
		default:
			return nil
		}
	}
	m, _ := cur.(map[string]any)
	return m
}

// has reports whether the table at path sets key (directly or as key_file).
func (l *loader) has(path []string, key string) bool {
	m := l.table(path...)
	if m == nil {
		return false
	}
	if sub, rest, ok := strings.Cut(key, "."); ok {
		return l.has(append(slices.Clip(path), sub), rest)
	}
	_, a := m[key]
	_, b := m[key+"_file"]
	return a || b
}

// describe splits path into the context it belongs to ("check \"api\"") and
// the key within it.
func (l *loader) describe(path []string) (ctx string, rest []string) {
	if len(path) == 0 {
		return "", nil
	}
	switch path[0] {
	case "check", "notifier", "maintenance":
		if len(path) < 2 {
			break
		}
		i, _ := strconv.Atoi(path[1])
		names := l.checkNames
		if path[0] == "notifier" {
			names = l.notifierNames
		}
		if path[0] != "maintenance" && i < len(names) && names[i] != "" {
			return fmt.Sprintf("%s %q", path[0], names[i]), path[2:]
		}
		return fmt.Sprintf("%s #%d", path[0], i+1), path[2:]
	case "escalation":
		if len(path) >= 2 {
			return "escalation." + path[1], path[2:]
		}
	}
	if len(path) == 1 {
		return "", path
	}
	return path[0], path[1:]
}

// keyString renders a relative key path as the user would write it.
func keyString(rest []string) string {
	var b strings.Builder
	for _, seg := range rest {
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("[" + seg + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if seg == "" || strings.IndexFunc(seg, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
		}) >= 0 {
			b.WriteString(strconv.Quote(seg))
		} else {
			b.WriteString(seg)
		}
	}
	return b.String()
}

// at records a problem with the value of the key at path; only the first
// problem of a key is kept, so a bad value is not also reported as missing.
func (l *loader) at(path []string, format string, args ...any) {
	k := pathKey(path)
	if l.seen[k] {
		return
	}
	l.seen[k] = true
	ctx, rest := l.describe(path)
	msg := fmt.Sprintf(format, args...)
	if key := keyString(rest); key != "" {
		msg = key + ": " + msg
	}
	if ctx != "" {
		msg = ctx + ": " + msg
	}
	l.add(l.line(path), msg)
}

// in records a problem about the table (or key) at path as a whole.
func (l *loader) in(path []string, format string, args ...any) {
	ctx, _ := l.describe(path)
	msg := fmt.Sprintf(format, args...)
	if ctx != "" {
		msg = ctx + ": " + msg
	}
	l.add(l.line(path), msg)
}

func (l *loader) add(line int, msg string) {
	l.problems = append(l.problems, Problem{File: l.file, Line: line, Msg: oneLine(msg)})
}

// expandTree replaces ${VAR} in every string of the raw tree, in place.
// The walk shares one key path stack and boxes again only the strings that
// hold a "$" (most do not, and a path and string per value would be paid
// for every key of a large config), and it visits each value once, so a
// deeply nested table costs time linear in its depth (a copied path per
// level would make it quadratic, and the depth is user input). Maps are
// walked in no order; problems are sorted by key path to stay stable.
func (l *loader) expandTree(root map[string]any) {
	var bad []envProblem
	var walk func(path []string, v any)
	expand := func(path []string, s string) string {
		out, err := expandEnv(s, l.getenv)
		if err != nil {
			bad = append(bad, envProblem{slices.Clone(path), err})
		}
		return out
	}
	walk = func(path []string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				switch e := e.(type) {
				case string:
					if strings.IndexByte(e, '$') >= 0 {
						x[k] = expand(append(path, k), e)
					}
				case map[string]any, []any:
					walk(append(path, k), e)
				}
			}
		case []any:
			for i, e := range x {
				switch e := e.(type) {
				case string:
					if strings.IndexByte(e, '$') >= 0 {
						x[i] = expand(append(path, strconv.Itoa(i)), e)
					}
				case map[string]any, []any:
					walk(append(path, strconv.Itoa(i)), e)
				}
			}
		}
	}
	walk(nil, root)
	slices.SortFunc(bad, func(a, b envProblem) int { return comparePaths(a.path, b.path) })
	for _, p := range bad {
		l.at(p.path, "%v", p.err)
	}
}

type envProblem struct {
	path []string
	err  error
}

// comparePaths orders key paths as a walk in sorted key order meets them:
// array indexes by number.
func comparePaths(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] == b[i] {
			continue
		}
		x, xerr := strconv.Atoi(a[i])
		y, yerr := strconv.Atoi(b[i])
		if xerr == nil && yerr == nil {
			return cmp.Compare(x, y)
		}
		return strings.Compare(a[i], b[i])
	}
	return cmp.Compare(len(a), len(b))
}

// expandEnv replaces ${NAME} with the variable's value; "$$" is a literal
// dollar, and a "$" followed by anything else is kept as written.
func expandEnv(s string, getenv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c != '$':
			b.WriteByte(c)
			i++
		case i+1 < len(s) && s[i+1] == '$':
			b.WriteByte('$')
			i += 2
		case i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", errors.New(`unterminated "${" (write "$$" for a literal dollar sign)`)
			}
			name := s[i+2 : i+2+end]
			if !validEnvName(name) {
				return "", fmt.Errorf("invalid environment variable name %q in ${...}", name)
			}
			val, ok := getenv(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(val)
			i += 3 + end
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// readFile reads a *_file value: relative to the config's folder, at most
// maxSecretFile bytes, trailing newlines trimmed. Errors name the path as
// written, never the content.
func (l *loader) readFile(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty file path")
	}
	f, err := os.Open(l.abs(p))
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %w", p, pathErr(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %w", p, pathErr(err))
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("cannot read %q: larger than %d bytes", p, maxSecretFile)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// pathErr drops the absolute path *PathError adds, so messages stay as written.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// abs resolves p against the config file's folder.
func (l *loader) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.dir, p)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
