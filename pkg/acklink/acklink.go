// Package acklink signs and verifies the tokens of the ack links carried by
// P1/P2 alerts. A token is the credential for acknowledging one incident
// until it expires, so it names the incident and the expiry and carries an
// HMAC-SHA256 over both with the agent's secret key ([agent].secret_file).
//
// Token = base64url (no padding) of
//
//	version (1 byte, 1) | incident id (8 bytes, big endian) |
//	expiry unix seconds (8 bytes, big endian) | HMAC-SHA256 (32 bytes)
//
// where the HMAC is over "pulse-ack-v1\x00" followed by the first 17 bytes.
// The label in the signed message keeps a MAC made for some other use of the
// same key from ever verifying as an ack token, and the version byte lets a
// later format be told apart from this one.
//
// The same layout carries the links of status-page subscriptions, each
// purpose with its own label ("pulse-confirm-v1", "pulse-unsubscribe-v1"):
// the id is then a subscriber's, and a token made for one purpose never
// verifies for another (an unsubscribe link cannot confirm, nor ack).
package acklink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// TTL is how long a link acknowledges. Seven days covers an incident opened
// on a Friday evening and looked at after a long weekend, while a link leaked
// from an old mail stops working within a week.
const TTL = 7 * 24 * time.Hour

// ConfirmTTL is how long a subscription's opt-in link works: long enough
// for mail read after a holiday, short enough that an old mail forwarded
// around does not subscribe someone who never clicked.
const ConfirmTTL = 7 * 24 * time.Hour

// Purpose is what a token grants; the label it is signed under.
type Purpose int

// The purposes of tokens.
const (
	// Ack acknowledges an incident (its id).
	Ack Purpose = iota
	// Confirm confirms a subscriber's address (double opt-in).
	Confirm
	// Unsubscribe removes a subscriber. Its tokens may be signed without
	// an expiry: the link in every mail must keep working.
	Unsubscribe
)

func (p Purpose) label() string {
	switch p {
	case Confirm:
		return "pulse-confirm-v1\x00"
	case Unsubscribe:
		return "pulse-unsubscribe-v1\x00"
	}
	return label
}

// MinKeyLen is the shortest key accepted: 32 bytes matches the HMAC-SHA256
// output, so the key is not the weak part.
const MinKeyLen = 32

const (
	version = 1
	label   = "pulse-ack-v1\x00"
	bodyLen = 1 + 8 + 8
	macLen  = sha256.Size
	rawLen  = bodyLen + macLen
)

// Errors of Verify; each is a different answer to the person clicking.
var (
	ErrMalformed    = errors.New("ack link is malformed")
	ErrBadSignature = errors.New("ack link signature does not match")
	ErrExpired      = errors.New("ack link has expired")
)

// Sign returns the token acknowledging incidentID until expires.
func Sign(key []byte, incidentID int64, expires time.Time) string {
	return SignFor(key, Ack, incidentID, expires)
}

// Verify checks token with key at now and returns the incident it
// acknowledges. The signature is checked before the expiry, so an expired
// answer is only given for a token this key made.
func Verify(key []byte, token string, now time.Time) (int64, error) {
	return VerifyFor(key, Ack, token, now)
}

// SignFor returns a token granting p on id until expires. A zero expires
// makes a token that does not expire, which only Unsubscribe accepts.
func SignFor(key []byte, p Purpose, id int64, expires time.Time) string {
	b := make([]byte, bodyLen, rawLen)
	b[0] = version
	binary.BigEndian.PutUint64(b[1:9], uint64(id))
	var exp int64
	if !expires.IsZero() {
		exp = expires.Unix()
	}
	binary.BigEndian.PutUint64(b[9:17], uint64(exp))
	b = append(b, mac(key, p.label(), b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// VerifyFor checks a token of purpose p with key at now and returns the id
// it names.
func VerifyFor(key []byte, p Purpose, token string, now time.Time) (int64, error) {
	if len(token) != base64.RawURLEncoding.EncodedLen(rawLen) {
		return 0, ErrMalformed
	}
	// Strict: the last character carries 2 unused bits, and a lenient
	// decoder would take four spellings of one token.
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != rawLen || b[0] != version {
		return 0, ErrMalformed
	}
	// hmac.Equal is constant time: the comparison reveals nothing of the
	// expected MAC to someone guessing it byte by byte.
	if !hmac.Equal(b[bodyLen:], mac(key, p.label(), b[:bodyLen])) {
		return 0, ErrBadSignature
	}
	id := int64(binary.BigEndian.Uint64(b[1:9]))
	exp := int64(binary.BigEndian.Uint64(b[9:17]))
	if id <= 0 {
		return 0, ErrMalformed
	}
	if exp == 0 && p == Unsubscribe {
		return id, nil
	}
	if now.Unix() >= exp {
		return id, ErrExpired
	}
	return id, nil
}

func mac(key []byte, label string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(label))
	h.Write(body)
	return h.Sum(nil)
}
