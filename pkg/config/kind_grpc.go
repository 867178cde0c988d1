package config

import "net/url"

// grpcCheck asks a server the standard gRPC health question.
var grpcCheck = checkKind{
	keys:     []string{"url", "ca_file", "insecure_skip_verify", "expect.latency"},
	groups:   httpGroup,
	validate: validateGRPC,
}

func validateGRPC(s scope, c *Check) {
	s.required("url", c.URL != "")
	if c.URL == "" {
		return
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "grpc" && u.Scheme != "grpcs") || u.Host == "" || u.Port() == "" || u.RawQuery != "" {
		s.at("url", "want grpc://host:port[/service] (plaintext HTTP/2) or grpcs://host:port[/service] (TLS)")
		return
	}
	if c.InsecureSkipVerify && u.Scheme == "grpc" {
		s.at("insecure_skip_verify", "applies only to grpcs:// URLs")
	}
}
