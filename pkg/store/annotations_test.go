package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAnnotations(t *testing.T) {
	s, path := newStore(t)
	ctx := context.Background()
	add := func(a Annotation) int64 {
		t.Helper()
		id, err := s.AddAnnotation(ctx, a)
		if err != nil {
			t.Fatalf("AddAnnotation(%+v): %v", a, err)
		}
		return id
	}
	msg := "<script>alert(1)</script>\x1b[31m é"
	id1 := add(Annotation{At: t0.Add(2 * time.Hour), Tag: "deploy", Message: msg, Author: "ann"})
	id2 := add(Annotation{At: t0, Tag: "db_migration-2", Message: strings.Repeat("é", MaxAnnotationMessage)})
	add(Annotation{At: t0.Add(48 * time.Hour), Tag: "deploy"})
	if id1 == id2 {
		t.Fatalf("two annotations got id %d", id1)
	}

	got, err := s.Annotations(ctx, t0, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Annotations = %d rows, want 2: %+v", len(got), got)
	}
	if got[0].ID != id2 || !got[0].At.Equal(t0) || got[0].Tag != "db_migration-2" || got[0].Author != "" {
		t.Errorf("first = %+v", got[0])
	}
	if got[1].ID != id1 || !got[1].At.Equal(t0.Add(2*time.Hour)) || got[1].Tag != "deploy" || got[1].Message != msg || got[1].Author != "ann" {
		t.Errorf("second = %+v", got[1])
	}
	// [from, to): the one at to is not in, the one at from is.
	if got, _ := s.Annotations(ctx, t0.Add(time.Millisecond), t0.Add(48*time.Hour)); len(got) != 1 || got[0].ID != id1 {
		t.Errorf("Annotations(t0+1ms, t0+48h) = %+v, want only %d", got, id1)
	}

	for _, bad := range []struct {
		a    Annotation
		want string
	}{
		{Annotation{At: t0}, "tag: must not be empty"},
		{Annotation{At: t0, Tag: "Deploy"}, "tag: \"Deploy\": only a-z"},
		{Annotation{At: t0, Tag: "de ploy"}, "only a-z"},
		{Annotation{At: t0, Tag: "deploy\x1b"}, "only a-z"},
		{Annotation{At: t0, Tag: strings.Repeat("a", MaxAnnotationTag+1)}, "tag: longer than 64"},
		{Annotation{At: t0, Tag: "deploy", Message: strings.Repeat("x", MaxAnnotationMessage+1)}, "message: 1001 characters, at most 1000"},
		{Annotation{At: t0, Tag: "deploy", Message: "\xff"}, "message: not valid UTF-8"},
		{Annotation{Tag: "deploy"}, "at: missing"},
	} {
		_, err := s.AddAnnotation(ctx, bad.a)
		if !errors.Is(err, ErrInvalidAnnotation) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("AddAnnotation(%+v) = %v, want %q", bad.a, err, bad.want)
		}
	}
	if got, _ := s.Annotations(ctx, time.Time{}, t0.Add(1000*time.Hour)); len(got) != 3 {
		t.Errorf("after the refused ones: %d annotations, want 3", len(got))
	}
	add(Annotation{At: t0, Tag: strings.Repeat("a", MaxAnnotationTag)}) // the longest tag allowed

	// A read-only store refuses, and reads.
	s.Close()
	ro := openTest(t, path, Options{ReadOnly: true})
	if _, err := ro.AddAnnotation(ctx, Annotation{At: t0, Tag: "deploy"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only AddAnnotation = %v, want ErrReadOnly", err)
	}
	if got, err := ro.Annotations(ctx, time.Time{}, t0.Add(1000*time.Hour)); err != nil || len(got) != 4 {
		t.Errorf("read-only Annotations = %d, %v; want 4", len(got), err)
	}
}
