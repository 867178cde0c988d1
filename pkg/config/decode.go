package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

var (
	durationType  = reflect.TypeFor[Duration]()
	byteSizeType  = reflect.TypeFor[ByteSize]()
	thresholdType = reflect.TypeFor[Threshold]()
	secretType    = reflect.TypeFor[Secret]()
	statusType    = reflect.TypeFor[StatusMatcher]()
	intOrStrType  = reflect.TypeFor[IntOrString]()
)

func reflectValue(cfg *Config) reflect.Value { return reflect.ValueOf(cfg).Elem() }

// tomlType names a raw value's TOML type for messages; values are never
// echoed, since the key might hold a secret.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date/time"
}

func (l *loader) typeErr(path []string, want string, v any) {
	l.at(path, "expected %s, got %s", want, tomlType(v))
}

type tagInfo struct {
	fields map[string][]int
	names  []string
}

var tagCache sync.Map // reflect.Type → tagInfo

// fieldTags returns a struct type's toml keys and their field index paths,
// the keys of embedded struct pointers (Check's field groups) included
// (cached per type, shared: callers must not modify them).
func fieldTags(t reflect.Type) (map[string][]int, []string) {
	if ti, ok := tagCache.Load(t); ok {
		return ti.(tagInfo).fields, ti.(tagInfo).names
	}
	fields, names := readFieldTags(t)
	tagCache.Store(t, tagInfo{fields, names})
	return fields, names
}

func readFieldTags(t reflect.Type) (map[string][]int, []string) {
	fields := make(map[string][]int, t.NumField())
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("toml")
		if tag == "" && f.Anonymous && f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct {
			sub, subNames := readFieldTags(f.Type.Elem())
			for _, name := range subNames {
				fields[name] = append([]int{i}, sub[name]...)
				names = append(names, name)
			}
			continue
		}
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = []int{i}
		names = append(names, tag)
	}
	return fields, names
}

// fieldAt is rv's field at index path idx, allocating the embedded struct
// pointers on the way.
func fieldAt(rv reflect.Value, idx []int) reflect.Value {
	for k, i := range idx {
		if k > 0 {
			if rv.IsNil() {
				rv.Set(reflect.New(rv.Type().Elem()))
			}
			rv = rv.Elem()
		}
		rv = rv.Field(i)
	}
	return rv
}

// decodeStruct fills rv from a raw table: every key must name a field, or be
// NAME_file for a string field NAME.
func (l *loader) decodeStruct(path []string, m map[string]any, rv reflect.Value) {
	fields, names := fieldTags(rv.Type())
	for _, k := range sortedKeys(m) {
		kp := append(slices.Clip(path), k)
		if idx, ok := fields[k]; ok {
			if s, ok := m[k].(string); ok && strings.TrimSpace(s) == "" && rv.Type().FieldByIndex(idx).Type == secretType {
				l.at(kp, "is empty%s", emptySecret(k))
				continue
			}
			l.decodeValue(kp, m[k], fieldAt(rv, idx))
			continue
		}
		if base, ok := strings.CutSuffix(k, "_file"); ok {
			if idx, ok := fields[base]; ok && rv.Type().FieldByIndex(idx).Type.Kind() == reflect.String {
				if _, both := m[base]; both {
					l.at(kp, "set %s or %s, not both", base, k)
					continue
				}
				p, ok := m[k].(string)
				if !ok {
					l.typeErr(kp, "a file path", m[k])
					continue
				}
				s, err := l.readFile(p)
				if err != nil {
					l.at(kp, "%v", err)
					continue
				}
				if rv.Type().FieldByIndex(idx).Type == secretType && strings.TrimSpace(s) == "" {
					l.at(kp, "%q is empty%s", p, emptySecret(base))
					continue
				}
				fieldAt(rv, idx).SetString(s)
				continue
			}
		}
		l.unknownKey(kp, names)
	}
}

// unknownKey reports a key no struct field takes, suggesting the closest key
// of the check's or notifier's own type first, then any key of the table.
func (l *loader) unknownKey(kp []string, names []string) {
	_, rest := l.describe(kp)
	key := keyString(rest)
	last := kp[len(kp)-1]
	var best string
	if own := l.ownKeys(kp); own != nil {
		best = closest(last, own)
	}
	if best == "" {
		best = closest(last, names)
	}
	s := ""
	if best != "" {
		if parent := keyString(rest[:len(rest)-1]); parent != "" {
			best = parent + "." + best
		}
		s = fmt.Sprintf(" (did you mean %q?)", best)
	}
	l.seen[pathKey(kp)] = true
	l.in(kp, "unknown key %q%s", key, s)
}

// ownKeys returns the keys of the table holding kp, limited to the check's or
// notifier's type (nil when the type is unknown).
func (l *loader) ownKeys(kp []string) []string {
	if len(kp) < 3 {
		return nil
	}
	i, err := strconv.Atoi(kp[1])
	if err != nil {
		return nil
	}
	switch kp[0] {
	case "check":
		if i >= len(l.checkTypes) {
			return nil
		}
		if _, ok := checkKinds[l.checkTypes[i]]; !ok {
			return nil
		}
		prefix := strings.Join(kp[2:len(kp)-1], ".")
		if prefix != "" {
			prefix += "."
		}
		var out []string
		for _, k := range KindKeys()[l.checkTypes[i]] {
			if rest, ok := strings.CutPrefix(k, prefix); ok && !strings.Contains(rest, ".") {
				out = append(out, rest)
			}
		}
		return out
	case "notifier":
		if len(kp) != 3 || i >= len(l.notifierTypes) {
			return nil
		}
		kind, ok := notifierKinds[l.notifierTypes[i]]
		if !ok {
			return nil
		}
		return append([]string{"name", "type", "timeout"}, kind.keys...)
	}
	return nil
}

// decodeValue stores raw value v in rv, reporting a type or format problem
// at path. It reports whether rv was set.
func (l *loader) decodeValue(path []string, v any, rv reflect.Value) bool {
	switch rv.Type() {
	case durationType:
		s, ok := v.(string)
		if !ok {
			l.typeErr(path, `a duration string like "30s"`, v)
			return false
		}
		d, err := ParseDuration(s)
		if err != nil {
			l.at(path, "%v", err)
			return false
		}
		rv.SetInt(int64(d))
		return true
	case byteSizeType:
		switch x := v.(type) {
		case int64:
			if x < 0 {
				l.at(path, "size must not be negative")
				return false
			}
			rv.SetInt(x)
			return true
		case string:
			n, err := ParseByteSize(x)
			if err != nil {
				l.at(path, "%v", err)
				return false
			}
			rv.SetInt(n)
			return true
		}
		l.typeErr(path, `a size like "2GB"`, v)
		return false
	case thresholdType:
		s, ok := v.(string)
		if !ok {
			l.typeErr(path, `a threshold string like "> 5"`, v)
			return false
		}
		t, err := ParseThreshold(s)
		if err != nil {
			l.at(path, "%v", err)
			return false
		}
		rv.Set(reflect.ValueOf(t))
		return true
	case intOrStrType:
		var x IntOrString
		if err := x.UnmarshalTOML(v); err != nil {
			l.at(path, "%v", err)
			return false
		}
		rv.Set(reflect.ValueOf(x))
		return true
	case statusType:
		var m StatusMatcher
		if err := m.UnmarshalTOML(v); err != nil {
			if _, ok := v.(string); !ok {
				if _, ok := v.(int64); !ok {
					l.typeErr(path, `a status code like 200 or a class like "2xx"`, v)
					return false
				}
			}
			l.at(path, "%v", err)
			return false
		}
		rv.Set(reflect.ValueOf(m))
		return true
	}

	switch rv.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			l.typeErr(path, "a string", v)
			return false
		}
		rv.SetString(s)
	case reflect.Int:
		n, ok := v.(int64)
		if !ok {
			l.typeErr(path, "an integer", v)
			return false
		}
		if n > math.MaxInt32 || n < math.MinInt32 {
			l.at(path, "%d is out of range", n)
			return false
		}
		rv.SetInt(n)
	case reflect.Float64:
		switch x := v.(type) {
		case int64:
			rv.SetFloat(float64(x))
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				l.at(path, "expected a finite number")
				return false
			}
			rv.SetFloat(x)
		default:
			l.typeErr(path, "a number", v)
			return false
		}
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			l.typeErr(path, "true or false", v)
			return false
		}
		rv.SetBool(b)
	case reflect.Pointer:
		n := reflect.New(rv.Type().Elem())
		if !l.decodeValue(path, v, n.Elem()) {
			return false
		}
		rv.Set(n)
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			elem := rv.Type().Elem()
			switch {
			case elem == statusType:
				arr = []any{v} // status = 200 is as clear as status = [200]
			case elem.Kind() == reflect.Struct:
				l.typeErr(path, "an array of tables ([["+strings.Join(path, ".")+"]])", v)
				return false
			case elem.Kind() == reflect.String:
				l.typeErr(path, "an array of strings", v)
				return false
			default:
				l.typeErr(path, "an array", v)
				return false
			}
		}
		s := reflect.MakeSlice(rv.Type(), len(arr), len(arr))
		for i, e := range arr {
			l.decodeValue(append(slices.Clip(path), strconv.Itoa(i)), e, s.Index(i))
		}
		rv.Set(s)
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			l.typeErr(path, "a table", v)
			return false
		}
		mm := reflect.MakeMapWithSize(rv.Type(), len(m))
		for _, k := range sortedKeys(m) {
			ev := reflect.New(rv.Type().Elem()).Elem()
			l.decodeValue(append(slices.Clip(path), k), m[k], ev)
			mm.SetMapIndex(reflect.ValueOf(k).Convert(rv.Type().Key()), ev)
		}
		rv.Set(mm)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			l.typeErr(path, "a table", v)
			return false
		}
		l.decodeStruct(path, m, rv)
	case reflect.Interface:
		// expect.json values: what a gjson result can be compared with.
		switch x := v.(type) {
		case string, bool:
			rv.Set(reflect.ValueOf(x))
		case int64:
			rv.Set(reflect.ValueOf(float64(x)))
		case float64:
			rv.Set(reflect.ValueOf(x))
		default:
			l.typeErr(path, "a string, number or boolean", v)
			return false
		}
	default:
		panic(fmt.Sprintf("config: no decoder for %s", rv.Type()))
	}
	return true
}

// emptySecret explains, for the key that needs it, why a secret that is set
// but empty is refused rather than taken as unset: "${TOKEN}" with TOKEN
// set but empty, or a token file holding only a newline, must not quietly
// turn the listener's authentication off. Other secrets (passwords, the
// heartbeat URL, notifier keys) follow the same rule.
func emptySecret(key string) string {
	if key == "listen_token" {
		return " (the listener would serve without authentication; remove the key for no token)"
	}
	return ""
}
