package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// checkFingerprint is a stable hash of the check's whole effective
// definition, defaults and secrets included (hashed, never shown). A reload
// keeps the state of checks whose fingerprint did not change. The line and
// the config path are left out: moving a check in the file does not change
// it.
func checkFingerprint(c *config.Check) string { return fingerprint(reflect.ValueOf(c).Elem()) }

// notifierFingerprint is a stable hash of the notifier's effective
// definition: a reload keeps a notifier whose fingerprint did not change.
func notifierFingerprint(n *config.Notifier) string { return fingerprint(reflect.ValueOf(n).Elem()) }

func fingerprint(v reflect.Value) string {
	// The encoding is built in one buffer and hashed once: writing each
	// field to the hash through its interface would allocate per string,
	// and every check is fingerprinted on each start and reload. The bytes
	// hashed must stay stable: a reload compares them with the last ones.
	// The buffer is pooled: a fresh one per check would be garbage in
	// proportion to the number of checks on every start and reload.
	bp := hashBufs.Get().(*[]byte)
	b := hashValue((*bp)[:0], v)
	sum := sha256.Sum256(b)
	if cap(b) <= 64<<10 {
		*bp = b
		hashBufs.Put(bp)
	}
	return hex.EncodeToString(sum[:16])
}

var hashBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

var locationPtrType = reflect.TypeFor[*time.Location]()

type hashField struct {
	index int
	name  string
}

var hashFieldCache sync.Map // reflect.Type → []hashField

// hashFields are the fields of struct type t that a fingerprint covers, in
// order. Cached: reading struct tags per field per check was a fifth of a
// reload.
func hashFields(t reflect.Type) []hashField {
	if fs, ok := hashFieldCache.Load(t); ok {
		return fs.([]hashField)
	}
	var fs []hashField
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "Line" || f.Tag.Get("toml") == "-" && f.Type != locationPtrType {
			continue
		}
		fs = append(fs, hashField{i, f.Name})
	}
	hashFieldCache.Store(t, fs)
	return fs
}

// hashValue writes a self-delimiting encoding of v: every string is length
// prefixed and every container counted, so distinct values cannot collide by
// concatenation.
func hashValue(b []byte, v reflect.Value) []byte {
	num := func(n uint64) { b = binary.LittleEndian.AppendUint64(b, n) }
	str := func(s string) {
		num(uint64(len(s)))
		b = append(b, s...)
	}
	if v.Type() == locationPtrType {
		if v.IsNil() {
			str("")
		} else {
			str(v.Interface().(*time.Location).String())
		}
		return b
	}
	switch v.Kind() {
	case reflect.String:
		str(v.String()) // reflect reads a Secret's value without its String method
	case reflect.Int, reflect.Int64, reflect.Int32:
		num(uint64(v.Int()))
	case reflect.Float64:
		num(math.Float64bits(v.Float()))
	case reflect.Bool:
		if v.Bool() {
			num(1)
		} else {
			num(0)
		}
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			num(0)
			return b
		}
		num(1)
		e := v.Elem()
		str(e.Type().String())
		b = hashValue(b, e)
	case reflect.Slice:
		num(uint64(v.Len()))
		for i := range v.Len() {
			b = hashValue(b, v.Index(i))
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			switch {
			case a.String() < b.String():
				return -1
			case a.String() > b.String():
				return 1
			}
			return 0
		})
		num(uint64(len(keys)))
		for _, k := range keys {
			str(k.String())
			b = hashValue(b, v.MapIndex(k))
		}
	case reflect.Struct:
		for _, f := range hashFields(v.Type()) {
			str(f.name)
			b = hashValue(b, v.Field(f.index))
		}
	default:
		str(v.Kind().String())
	}
	return b
}
