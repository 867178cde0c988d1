package store

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/pulse-monitor/pulse/checks"
)

// Perf data is stored as: uvarint count, then per item a flags byte, the
// label, the value, then each of UOM, Warn, Crit, Min, Max whose flag is
// set. The value is a zigzag varint when flagInt is set; with flagDecimal,
// a zigzag varint mantissa and a byte e for mantissa / 10^e (the seconds of
// a duration measured to the nanosecond or microsecond: 3-6 bytes); else 8
// bytes IEEE 754 little endian. A string is a uvarint length and its bytes;
// with flagDict, a uvarint n: odd n is wellKnown[n>>1], even n a length n>>1
// and the bytes. The http check's "time=0.012345678s size=1234B" takes 14
// bytes this way, 27 without flagDict and flagDecimal (which databases
// written before them hold, and which still decode).
const (
	flagInt = 1 << iota
	flagUOM
	flagWarn
	flagCrit
	flagMin
	flagMax
	flagDict
	flagDecimal
)

// wellKnown are the labels, units and bounds pulse's own checks and the
// common plugins use. Stored data refers to them by index: append only.
var wellKnown = [...]string{
	"time", "size", "s", "B", "%", "ms", "us", "KB", "MB", "GB", "TB", "c", "0", "100",
	"runtime", "drop", "days", "cpu", "memory", "disk", "load1", "load5", "load15", "load_per_core",
	"value", "rta", "pl", "rtmax", "rtmin", "users", "procs",
}

var wellKnownIndex = func() map[string]uint64 {
	m := make(map[string]uint64, len(wellKnown))
	for i, s := range wellKnown {
		m[s] = uint64(i)
	}
	return m
}()

// maxDecimalExp is the largest e of a decimal value (nanoseconds).
const maxDecimalExp = 9

var pow10 = [maxDecimalExp + 1]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

var errBadPerf = errors.New("malformed performance data")

// appendPerf appends the encoding of ps to b.
func appendPerf(b []byte, ps []checks.Perf) []byte {
	b = binary.AppendUvarint(b, uint64(len(ps)))
	for i := range ps {
		p := &ps[i]
		flags := byte(flagDict)
		iv, isInt := asInt(p.Value)
		var mant int64
		var exp byte
		if isInt {
			flags |= flagInt
		} else if mant, exp, isInt = asDecimal(p.Value); isInt {
			flags |= flagDecimal
		}
		for j, s := range [...]string{p.UOM, p.Warn, p.Crit, p.Min, p.Max} {
			if s != "" {
				flags |= flagUOM << j
			}
		}
		b = append(b, flags)
		b = appendDictString(b, p.Label)
		switch {
		case flags&flagInt != 0:
			b = binary.AppendVarint(b, iv)
		case flags&flagDecimal != 0:
			b = binary.AppendVarint(b, mant)
			b = append(b, exp)
		default:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Value))
		}
		for _, s := range [...]string{p.UOM, p.Warn, p.Crit, p.Min, p.Max} {
			if s != "" {
				b = appendDictString(b, s)
			}
		}
	}
	return b
}

// asInt reports whether v survives a round trip through an int64 exactly
// (negative zero does not).
func asInt(v float64) (int64, bool) {
	if v != math.Trunc(v) || math.Abs(v) > 1<<53 || (v == 0 && math.Signbit(v)) {
		return 0, false
	}
	return int64(v), true
}

// asDecimal finds the smallest e ≤ maxDecimalExp with v == m / 10^e exactly
// for an integer m small enough to beat a float64's 8 bytes (|m| < 2^41:
// a varint of at most 6 bytes, plus the byte of e).
func asDecimal(v float64) (int64, byte, bool) {
	if v == 0 || math.IsNaN(v) { // ±0 are integers or keep their sign as floats
		return 0, 0, false
	}
	for e := 1; e <= maxDecimalExp; e++ {
		m := math.Round(v * pow10[e])
		if math.Abs(m) >= 1<<41 {
			return 0, 0, false
		}
		if m/pow10[e] == v {
			return int64(m), byte(e), true
		}
	}
	return 0, 0, false
}

func appendDictString(b []byte, s string) []byte {
	if i, ok := wellKnownIndex[s]; ok {
		return binary.AppendUvarint(b, i<<1|1)
	}
	b = binary.AppendUvarint(b, uint64(len(s))<<1)
	return append(b, s...)
}

// decodePerf is the inverse of appendPerf.
func decodePerf(b []byte) ([]checks.Perf, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errBadPerf
	}
	b = b[k:]
	ps := make([]checks.Perf, n)
	for i := range ps {
		if len(b) == 0 {
			return nil, errBadPerf
		}
		flags := b[0]
		b = b[1:]
		read := readString
		if flags&flagDict != 0 {
			read = readDictString
		}
		var err error
		p := &ps[i]
		if p.Label, b, err = read(b); err != nil {
			return nil, err
		}
		switch {
		case flags&flagInt != 0 && flags&flagDecimal != 0:
			return nil, errBadPerf
		case flags&(flagInt|flagDecimal) != 0:
			v, k := binary.Varint(b)
			if k <= 0 {
				return nil, errBadPerf
			}
			p.Value, b = float64(v), b[k:]
			if flags&flagDecimal != 0 {
				if len(b) == 0 || b[0] > maxDecimalExp {
					return nil, errBadPerf
				}
				p.Value, b = p.Value/pow10[b[0]], b[1:]
			}
		default:
			if len(b) < 8 {
				return nil, errBadPerf
			}
			p.Value, b = math.Float64frombits(binary.LittleEndian.Uint64(b)), b[8:]
		}
		for j, dst := range [...]*string{&p.UOM, &p.Warn, &p.Crit, &p.Min, &p.Max} {
			if flags&(flagUOM<<j) != 0 {
				if *dst, b, err = read(b); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(b) != 0 {
		return nil, errBadPerf
	}
	return ps, nil
}

func readDictString(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return "", nil, errBadPerf
	}
	if n&1 == 1 {
		if n>>1 >= uint64(len(wellKnown)) {
			return "", nil, errBadPerf
		}
		return wellKnown[n>>1], b[k:], nil
	}
	n >>= 1
	if n > uint64(len(b)-k) {
		return "", nil, errBadPerf
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}

func readString(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, errBadPerf
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}
