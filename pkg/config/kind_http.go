package config

import (
	"regexp"
	"slices"
	"strings"
)

// httpCheck requests a URL and asserts on the answer.
var httpCheck = checkKind{
	keys: slices.Concat(httpSourceKeys, []string{
		"expect.body_contains", "expect.body_not_contains", "expect.body_regex",
		"expect.json", "expect.headers", "expect.cert_expiry",
	}),
	groups:   httpGroup,
	defaults: httpRequestDefaults,
	validate: validateHTTP,
}

// httpSourceKeys are the request keys of http checks and http-sourced metrics.
var httpSourceKeys = []string{
	"url", "method", "headers", "body", "follow_redirects", "insecure_skip_verify",
	"ca_file", "basic_auth", "max_body", "expect.status", "expect.latency",
}

// httpRequestDefaults fills the request keys of http checks and
// http-sourced metrics.
func httpRequestDefaults(s scope, c *Check) {
	if !s.has("method") {
		c.Method = "GET"
	}
	c.Method = strings.ToUpper(c.Method)
	if c.FollowRedirects == nil {
		yes := true
		c.FollowRedirects = &yes
	}
	if !s.has("max_body") {
		c.MaxBody = DefaultMaxBody
	}
}

func validateHTTP(s scope, c *Check) {
	validateHTTPRequest(s, c)
	exp := c.Expected()
	if exp.BodyRegex != "" {
		if _, err := regexp.Compile(exp.BodyRegex); err != nil {
			s.at("expect.body_regex", "invalid regular expression: %v", err)
		}
	}
	for _, h := range sortedKeys(exp.Headers) {
		if !validHeaderName(h) {
			s.l.at(append(s.key("expect.headers"), h), "invalid header name")
		}
	}
}

// validateHTTPRequest checks the request keys of http checks and
// http-sourced metrics.
func validateHTTPRequest(s scope, c *Check) {
	s.required("url", c.URL != "")
	if c.URL != "" {
		if err := checkURL(c.URL, false); err != nil {
			s.at("url", "%v", err)
		}
	}
	if !slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, c.Method) {
		s.at("method", "unknown method %q (GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)", c.Method)
	}
	for _, h := range sortedKeys(c.Headers) {
		if !validHeaderName(h) {
			s.l.at(append(s.key("headers"), h), "invalid header name")
		}
	}
	if c.MaxBody <= 0 {
		s.at("max_body", "must be greater than 0")
	}
	if c.BasicAuth != nil && c.BasicAuth.Username == "" {
		s.l.in(s.key("basic_auth"), "basic_auth: missing required key \"username\"")
	}
	s.l.checkReadable(s.key("ca_file"), c.CAFile)
}
