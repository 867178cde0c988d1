package config

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"math"
	"reflect"
	"slices"
	"time"
)

// Fingerprint is a stable hash of the check's whole effective definition,
// defaults and secrets included (hashed, never shown). A reload keeps the
// state of checks whose fingerprint did not change. The line and the config
// path are left out: moving a check in the file does not change it.
func (c *Check) Fingerprint() string { return fingerprint(reflect.ValueOf(c).Elem()) }

// Fingerprint is a stable hash of the notifier's effective definition.
func (n *Notifier) Fingerprint() string { return fingerprint(reflect.ValueOf(n).Elem()) }

func fingerprint(v reflect.Value) string {
	h := sha256.New()
	hashValue(h, v)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

var locationPtrType = reflect.TypeFor[*time.Location]()

// hashValue writes a self-delimiting encoding of v: every string is length
// prefixed and every container counted, so distinct values cannot collide by
// concatenation.
func hashValue(h hash.Hash, v reflect.Value) {
	var buf [8]byte
	num := func(n uint64) {
		binary.LittleEndian.PutUint64(buf[:], n)
		h.Write(buf[:])
	}
	str := func(s string) {
		num(uint64(len(s)))
		h.Write([]byte(s))
	}
	if v.Type() == locationPtrType {
		if v.IsNil() {
			str("")
		} else {
			str(v.Interface().(*time.Location).String())
		}
		return
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
			return
		}
		num(1)
		e := v.Elem()
		str(e.Type().String())
		hashValue(h, e)
	case reflect.Slice:
		num(uint64(v.Len()))
		for i := range v.Len() {
			hashValue(h, v.Index(i))
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
			hashValue(h, v.MapIndex(k))
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Name == "Line" || f.Tag.Get("toml") == "-" && f.Type != locationPtrType {
				continue
			}
			str(f.Name)
			hashValue(h, v.Field(i))
		}
	default:
		str(v.Kind().String())
	}
}
