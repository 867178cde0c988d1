package cli

import "testing"

// TestStoreHint: the URL suggested for [agent].store keeps no password.
func TestStoreHint(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://pulse:s3cret@db:5432/pulse?sslmode=require", "postgres://pulse@db:5432/pulse?sslmode=require"},
		{"postgres://pulse@db/pulse?password=s3cret&search_path=p", "postgres://pulse@db/pulse?search_path=p"},
		{"postgresql://db/pulse", "postgresql://db/pulse"},
	} {
		if got := storeHint(tc.in); got != tc.want {
			t.Errorf("storeHint(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
