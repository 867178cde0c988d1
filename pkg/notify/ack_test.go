package notify

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestHideAckLinks(t *testing.T) {
	const link = "https://status.example.com/ack/AQAAAAAAAAAqAAAAAGk3fL0xS2pXdU5oZ0RmRUxwQWxSNHRZcHZWc2JqTmZ3eQ"
	m := &Message{Items: []Item{{Incident: Incident{ID: 42, AckURL: link}}, {Incident: Incident{ID: 43}}}}
	se := &SendError{Err: errors.New("webhook \"hook\": status 400"), Status: 400,
		Answer: `bad payload {"ack_url":"` + link + `"} token AQAAAAAAAAAqAAAAAGk3fL0xS2pXdU5oZ0RmRUxwQWxSNHRZcHZWc2JqTmZ3eQ`}
	hideAckLinks(fmt.Errorf("wrapped: %w", se), m)
	if strings.Contains(se.Answer, "AQAAAAAAAAAq") {
		t.Fatalf("answer still shows the ack token: %s", se.Answer)
	}
	if want := `bad payload {"ack_url":"<secret>"} token <secret>`; se.Answer != want {
		t.Fatalf("answer = %q, want %q", se.Answer, want)
	}
	hideAckLinks(nil, m) // no error: nothing to do, no panic
}
