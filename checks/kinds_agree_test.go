package checks_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify/registry"
)

// TestKindsAgree: config validates the kinds that exist. A kind config
// accepts but nothing builds would load and then fail at start; one the
// registry builds but config rejects can never be configured.
func TestKindsAgree(t *testing.T) {
	if got, want := slices.Sorted(maps.Keys(checks.Kinds())), config.Kinds(); !slices.Equal(got, want) {
		t.Errorf("checks.Kinds() = %v, config.Kinds() = %v", got, want)
	}
	if got, want := registry.Types(), config.NotifierKinds(); !slices.Equal(got, want) {
		t.Errorf("registry.Types() = %v, config.NotifierKinds() = %v", got, want)
	}
}
