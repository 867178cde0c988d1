package pagerduty

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// schema is a JSON Schema node of the subset PagerDuty's OpenAPI document
// uses: type, properties, required, enum, items, format, $ref, plus
// maxLength for the limits PagerDuty documents but the file leaves out.
type schema map[string]any

// eventSchema loads the request schema of POST /enqueue from the published
// OpenAPI document and adds the documented length limits.
func eventSchema(t *testing.T) (schema, schema) {
	t.Helper()
	// A verbatim copy keeps the test hermetic; TestSchemaIsPublishedCopy
	// keeps it honest.
	raw, err := os.ReadFile(filepath.Join("testdata", "pagerduty-events-v2.openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse schema: %v", err)
	}
	root := schema(doc)
	s := root.at(t, "paths", "/enqueue", "post", "requestBody", "content", "application/json", "schema")
	// Limits from PagerDuty's Events API v2 documentation.
	s.at(t, "properties", "dedup_key")["maxLength"] = 255.0
	root.at(t, "components", "schemas", "Payload", "properties", "summary")["maxLength"] = 1024.0
	return root, s
}

func (s schema) at(t *testing.T, keys ...string) schema {
	t.Helper()
	cur := map[string]any(s)
	for _, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			t.Fatalf("schema has no %s", strings.Join(keys, "/"))
		}
		cur = next
	}
	return schema(cur)
}

// validate checks v (decoded JSON) against s and returns every problem.
// strict also reports properties the schema does not declare, which
// catches misspelt field names.
func validate(root, s schema, v any, path string, strict bool) []string {
	if ref, ok := s["$ref"].(string); ok {
		target := map[string]any(root)
		for _, k := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			next, ok := target[k].(map[string]any)
			if !ok {
				return []string{fmt.Sprintf("%s: unresolvable $ref %s", path, ref)}
			}
			target = next
		}
		s = schema(target)
	}
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, a...)) }
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if e == v {
				found = true
			}
		}
		if !found {
			bad("%v is not one of %v", v, enum)
		}
	}
	switch s["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			bad("want object, got %T", v)
			return errs
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := obj[r]; !ok {
				bad("required property %q missing", r)
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if strict && props != nil {
					bad("property %q not in the schema", k)
				}
				continue
			}
			errs = append(errs, validate(root, schema(ps), obj[k], path+"."+k, strict)...)
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			bad("want array, got %T", v)
			return errs
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range arr {
				errs = append(errs, validate(root, schema(items), e, fmt.Sprintf("%s[%d]", path, i), strict)...)
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			bad("want string, got %T", v)
			return errs
		}
		if max, ok := s["maxLength"].(float64); ok && utf8.RuneCountInString(str) > int(max) {
			bad("length %d exceeds maxLength %d", utf8.RuneCountInString(str), int(max))
		}
		switch s["format"] {
		case "date-time":
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				bad("%q is not an RFC 3339 date-time", str)
			}
		case "url":
			if u, err := url.Parse(str); err != nil || u.Scheme == "" || u.Host == "" {
				bad("%q is not an absolute URL", str)
			}
		}
	}
	if str, ok := v.(string); ok && !utf8.ValidString(str) {
		bad("invalid UTF-8")
	}
	return errs
}

func asStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// checkEvent validates one request body against the schema and the rules
// the schema cannot express.
func checkEvent(t *testing.T, root, s schema, body []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("event is not JSON: %v\n%s", err, body)
	}
	for _, e := range validate(root, s, v, "event", true) {
		t.Errorf("schema: %s", e)
	}
	action, _ := v["event_action"].(string)
	if key, _ := v["dedup_key"].(string); key == "" && action != "trigger" {
		t.Errorf("%s event without dedup_key", action)
	}
	if action == "trigger" {
		if _, ok := v["payload"]; !ok {
			t.Errorf("trigger without payload")
		}
	} else if _, ok := v["payload"]; ok {
		t.Errorf("%s event carries a payload", action)
	}
	return v
}

// TestSchemaChecker proves the checker rejects what it must, so that a
// passing validation means something.
func TestSchemaChecker(t *testing.T) {
	root, s := eventSchema(t)
	tests := []struct {
		name, body, want string
	}{
		{"valid", `{"routing_key":"k","event_action":"resolve","dedup_key":"d"}`, ""},
		{"missing routing key", `{"event_action":"resolve","dedup_key":"d"}`, `required property "routing_key" missing`},
		{"bad action", `{"routing_key":"k","event_action":"close","dedup_key":"d"}`, "is not one of"},
		{"bad severity", `{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"P1"}}`, "event.payload.severity"},
		{"missing source", `{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","severity":"info"}}`, `required property "source" missing`},
		{"long summary", `{"routing_key":"k","event_action":"trigger","payload":{"summary":"` + strings.Repeat("x", 1025) + `","source":"h","severity":"info"}}`, "exceeds maxLength 1024"},
		{"long dedup key", `{"routing_key":"k","event_action":"resolve","dedup_key":"` + strings.Repeat("x", 256) + `"}`, "exceeds maxLength 255"},
		{"bad timestamp", `{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info","timestamp":"yesterday"}}`, "not an RFC 3339"},
		{"link without href", `{"routing_key":"k","event_action":"trigger","links":[{"text":"x"}],"payload":{"summary":"s","source":"h","severity":"info"}}`, `event.links[0]: required property "href" missing`},
		{"misspelt field", `{"routing_key":"k","event_action":"resolve","dedupkey":"d"}`, `property "dedupkey" not in the schema`},
		{"details not object", `{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info","custom_details":"x"}}`, "want object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.body), &v); err != nil {
				t.Fatal(err)
			}
			errs := strings.Join(validate(root, s, v, "event", true), "\n")
			if tt.want == "" && errs != "" {
				t.Fatalf("unexpected problems: %s", errs)
			}
			if !strings.Contains(errs, tt.want) {
				t.Fatalf("problems %q do not mention %q", errs, tt.want)
			}
		})
	}
}

// TestSchemaIsPublishedCopy checks testdata's schema against the reference
// copy in the shared workspace, when the test runs inside it.
func TestSchemaIsPublishedCopy(t *testing.T) {
	ref, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "shared", "reference", "pagerduty-events-v2.openapi.json"))
	if err != nil {
		t.Skipf("shared reference not available: %v", err)
	}
	local, err := os.ReadFile(filepath.Join("testdata", "pagerduty-events-v2.openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(ref) != string(local) {
		t.Fatal("testdata/pagerduty-events-v2.openapi.json differs from shared/reference: copy it again")
	}
}
