package config

// tcpCheck connects to host:port.
var tcpCheck = checkKind{
	keys:     []string{"address", "expect.latency"},
	groups:   kindGroup,
	validate: validateTCP,
}

func validateTCP(s scope, c *Check) {
	s.required("address", c.Address != "")
	if c.Address != "" {
		if err := checkHostPort(c.Address, false); err != nil {
			s.at("address", "%v", err)
		}
	}
}
