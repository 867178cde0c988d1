package config

// systemCheck reads the host's cpu, memory, disk or load.
var systemCheck = checkKind{
	keys:     []string{"metric", "path", "warn_if", "crit_if"},
	groups:   kindGroup,
	defaults: systemDefaults,
	validate: validateSystem,
}

// systemDefaults: percentages used warn above 80 and are critical above 90;
// load (per core) has no threshold that suits every host.
func systemDefaults(s scope, c *Check) {
	if c.Metric == "load" {
		return
	}
	if !s.has("warn_if") {
		c.WarnIf, _ = ParseThreshold("> 80")
	}
	if !s.has("crit_if") {
		c.CritIf, _ = ParseThreshold("> 90")
	}
}

func validateSystem(s scope, c *Check) {
	s.required("metric", c.Metric != "")
	switch c.Metric {
	case "", "cpu", "memory", "load":
		if c.Path != "" {
			s.at("path", "applies only to metric \"disk\"")
		}
	case "disk":
		s.required("path", c.Path != "")
	default:
		s.at("metric", "unknown metric %q (use cpu, memory, disk or load)", c.Metric)
	}
}
