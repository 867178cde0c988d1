package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Annotation is a note on the dashboards' time axis: a deploy marker from
// `pulse annotate --tag deploy` or POST /api/v1/annotations.
type Annotation struct {
	ID      int64
	At      time.Time
	Tag     string // [a-z0-9_-], 1 to MaxAnnotationTag characters
	Message string // at most MaxAnnotationMessage characters
	Author  string
}

// Limits on an annotation's fields.
const (
	MaxAnnotationTag     = 64
	MaxAnnotationMessage = 1000
	maxAnnotationAuthor  = 200
)

// ErrInvalidAnnotation is what ValidateAnnotation's errors wrap.
var ErrInvalidAnnotation = errors.New("invalid annotation")

// ValidateAnnotation reports what is wrong with a, naming the field:
// "tag: ..." or "message: ...".
func ValidateAnnotation(a Annotation) error {
	switch {
	case a.Tag == "":
		return fmt.Errorf("%w: tag: must not be empty", ErrInvalidAnnotation)
	case len(a.Tag) > MaxAnnotationTag:
		return fmt.Errorf("%w: tag: longer than %d characters", ErrInvalidAnnotation, MaxAnnotationTag)
	}
	for _, c := range a.Tag {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w: tag: %q: only a-z, 0-9, _ and - are allowed", ErrInvalidAnnotation, a.Tag)
		}
	}
	if !utf8.ValidString(a.Message) {
		return fmt.Errorf("%w: message: not valid UTF-8", ErrInvalidAnnotation)
	}
	if n := utf8.RuneCountInString(a.Message); n > MaxAnnotationMessage {
		return fmt.Errorf("%w: message: %d characters, at most %d", ErrInvalidAnnotation, n, MaxAnnotationMessage)
	}
	if !utf8.ValidString(a.Author) || utf8.RuneCountInString(a.Author) > maxAnnotationAuthor {
		return fmt.Errorf("%w: author: not valid UTF-8 or longer than %d characters", ErrInvalidAnnotation, maxAnnotationAuthor)
	}
	if a.At.IsZero() {
		return fmt.Errorf("%w: at: missing", ErrInvalidAnnotation)
	}
	return nil
}

// AddAnnotation validates and stores a (its ID is ignored) and returns its
// id.
func (s *Store) AddAnnotation(ctx context.Context, a Annotation) (int64, error) {
	if err := ValidateAnnotation(a); err != nil {
		return 0, err
	}
	if s.readOnly {
		return 0, ErrReadOnly
	}
	var id int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO annotations(at, tag, message, author)
			VALUES(?, ?, ?, ?) RETURNING id`, msOf(a.At), a.Tag, a.Message, a.Author).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("add annotation %q: %w", a.Tag, err)
	}
	return id, nil
}

// Annotations returns the annotations made in [from, to), oldest first.
func (s *Store) Annotations(ctx context.Context, from, to time.Time) ([]Annotation, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, at, tag, message, author
		FROM annotations WHERE at >= ? AND at < ? ORDER BY at, id`, msOf(from), msOf(to))
	if err != nil {
		return nil, fmt.Errorf("read annotations: %w", err)
	}
	defer rows.Close()
	var out []Annotation
	for rows.Next() {
		var a Annotation
		var at int64
		if err := rows.Scan(&a.ID, &at, &a.Tag, &a.Message, &a.Author); err != nil {
			return nil, fmt.Errorf("read annotations: %w", err)
		}
		a.At = timeOfMs(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read annotations: %w", err)
	}
	return out, nil
}
