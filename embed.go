// Package pulse holds what the binary embeds from the repository root: the
// commented example configuration that `pulse init` writes.
package pulse

import _ "embed"

// ExampleConfig is pulse.example.toml, the starter configuration.
//
//go:embed pulse.example.toml
var ExampleConfig []byte
