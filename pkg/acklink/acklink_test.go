package acklink

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	key := bytes.Repeat([]byte{7}, MinKeyLen)
	other := bytes.Repeat([]byte{8}, MinKeyLen)
	now := time.Unix(1_800_000_000, 0)
	good := Sign(key, 42, now.Add(TTL))

	raw, _ := base64.RawURLEncoding.DecodeString(good)
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	v2 := bytes.Clone(raw)
	v2[0] = 2

	tests := []struct {
		name   string
		key    []byte
		token  string
		now    time.Time
		wantID int64
		want   error
	}{
		{"round trip", key, good, now, 42, nil},
		{"just before expiry", key, good, now.Add(TTL - time.Second), 42, nil},
		{"at expiry", key, good, now.Add(TTL), 42, ErrExpired},
		{"expired", key, Sign(key, 42, now.Add(-time.Hour)), now, 42, ErrExpired},
		{"wrong key", other, good, now, 0, ErrBadSignature},
		{"tampered id", key, flip(8), now, 0, ErrBadSignature},
		{"tampered expiry", key, flip(16), now, 0, ErrBadSignature},
		{"tampered mac", key, flip(len(raw) - 1), now, 0, ErrBadSignature},
		{"other version", key, base64.RawURLEncoding.EncodeToString(v2), now, 0, ErrMalformed},
		{"unused bits set", key, good[:len(good)-1] + string(good[len(good)-1]^1), now, 0, ErrMalformed},
		{"empty", key, "", now, 0, ErrMalformed},
		{"garbage", key, "not-a-token", now, 0, ErrMalformed},
		{"bad base64 of right length", key, strings.Repeat("!", len(good)), now, 0, ErrMalformed},
		{"padded", key, good + "=", now, 0, ErrMalformed},
		{"truncated", key, good[:len(good)-2], now, 0, ErrMalformed},
		{"id zero", key, Sign(key, 0, now.Add(TTL)), now, 0, ErrMalformed},
		{"id negative", key, Sign(key, -5, now.Add(TTL)), now, 0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := Verify(tt.key, tt.token, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify err = %v, want %v", err, tt.want)
			}
			if id != tt.wantID {
				t.Fatalf("Verify id = %d, want %d", id, tt.wantID)
			}
		})
	}
}

func TestTokenIsURLSafe(t *testing.T) {
	tok := Sign(bytes.Repeat([]byte{0xff}, MinKeyLen), 1<<62, time.Unix(1<<40, 0))
	if strings.ContainsAny(tok, "+/=%?#") {
		t.Fatalf("token %q is not safe in a URL path", tok)
	}
}
