package store

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/pulse-monitor/pulse/checks"
)

// Perf data is stored as: uvarint count, then per item a flags byte, the
// label (uvarint length + bytes), the value (zigzag varint when flagInt,
// else 8 bytes IEEE 754 little endian), then each of UOM, Warn, Crit, Min,
// Max whose flag is set (uvarint length + bytes). "time=0.012s;1;2;0" costs
// about 20 bytes instead of JSON's 60.
const (
	flagInt = 1 << iota
	flagUOM
	flagWarn
	flagCrit
	flagMin
	flagMax
)

var errBadPerf = errors.New("malformed performance data")

// appendPerf appends the encoding of ps to b.
func appendPerf(b []byte, ps []checks.Perf) []byte {
	b = binary.AppendUvarint(b, uint64(len(ps)))
	for i := range ps {
		p := &ps[i]
		var flags byte
		iv, isInt := asInt(p.Value)
		if isInt {
			flags |= flagInt
		}
		for j, s := range [...]string{p.UOM, p.Warn, p.Crit, p.Min, p.Max} {
			if s != "" {
				flags |= flagUOM << j
			}
		}
		b = append(b, flags)
		b = appendString(b, p.Label)
		if isInt {
			b = binary.AppendVarint(b, iv)
		} else {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Value))
		}
		for _, s := range [...]string{p.UOM, p.Warn, p.Crit, p.Min, p.Max} {
			if s != "" {
				b = appendString(b, s)
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

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
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
		var err error
		p := &ps[i]
		if p.Label, b, err = readString(b); err != nil {
			return nil, err
		}
		if flags&flagInt != 0 {
			v, k := binary.Varint(b)
			if k <= 0 {
				return nil, errBadPerf
			}
			p.Value, b = float64(v), b[k:]
		} else {
			if len(b) < 8 {
				return nil, errBadPerf
			}
			p.Value, b = math.Float64frombits(binary.LittleEndian.Uint64(b)), b[8:]
		}
		for j, dst := range [...]*string{&p.UOM, &p.Warn, &p.Crit, &p.Min, &p.Max} {
			if flags&(flagUOM<<j) != 0 {
				if *dst, b, err = readString(b); err != nil {
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

func readString(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, errBadPerf
	}
	return string(b[k : k+int(n)]), b[k+int(n):], nil
}
