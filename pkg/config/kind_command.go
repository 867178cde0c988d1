package config

// commandCheck runs a Nagios-style plugin.
var commandCheck = checkKind{
	keys:     []string{"command", "env", "warn_if", "crit_if", "perf"},
	groups:   kindGroup,
	validate: validateCommand,
}

func validateCommand(s scope, c *Check) {
	s.required("command", len(c.Command) > 0)
	if len(c.Command) > 0 && c.Command[0] == "" {
		s.at("command", "the program (first element) must not be empty")
	}
}
