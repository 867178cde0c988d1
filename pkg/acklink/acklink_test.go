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

func TestPurposes(t *testing.T) {
	key := bytes.Repeat([]byte{7}, MinKeyLen)
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(ConfirmTTL)
	purposes := []Purpose{Ack, Confirm, Unsubscribe}
	for _, signed := range purposes {
		tok := SignFor(key, signed, 9, exp)
		for _, used := range purposes {
			id, err := VerifyFor(key, used, tok, now)
			if signed == used {
				if err != nil || id != 9 {
					t.Errorf("purpose %d verifies its own token: got %d, %v", signed, id, err)
				}
				continue
			}
			if !errors.Is(err, ErrBadSignature) {
				t.Errorf("token of purpose %d used as %d: got %d, %v; want ErrBadSignature", signed, used, id, err)
			}
		}
	}
	// The ack token of Sign is the Ack purpose's, byte for byte: links
	// already sent keep working.
	if a, b := Sign(key, 5, exp), SignFor(key, Ack, 5, exp); a != b {
		t.Errorf("Sign %q != SignFor(Ack) %q", a, b)
	}

	// No expiry: only an unsubscribe token may be made so.
	never := SignFor(key, Unsubscribe, 3, time.Time{})
	if id, err := VerifyFor(key, Unsubscribe, never, now.Add(100*365*24*time.Hour)); err != nil || id != 3 {
		t.Errorf("unsubscribe without expiry: %d, %v", id, err)
	}
	for _, p := range []Purpose{Ack, Confirm} {
		if _, err := VerifyFor(key, p, SignFor(key, p, 3, time.Time{}), now); !errors.Is(err, ErrExpired) {
			t.Errorf("purpose %d without expiry: %v, want ErrExpired", p, err)
		}
	}
	// Confirm links expire.
	if _, err := VerifyFor(key, Confirm, SignFor(key, Confirm, 3, exp), exp); !errors.Is(err, ErrExpired) {
		t.Errorf("confirm at expiry: %v, want ErrExpired", err)
	}
}
