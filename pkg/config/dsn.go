package config

import (
	"errors"
	"net/url"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// checkDSN parses a sql check's DSN with its driver's own parser, without
// connecting, so that "sslmode=bogus" is a config problem at load rather
// than a crit result at run. The message never holds the DSN's password.
func checkDSN(driver, dsn string) error {
	var err error
	switch driver {
	case "postgres":
		_, err = pgx.ParseConfig(dsn)
	case "mysql":
		_, err = mysql.ParseDSN(dsn)
	default:
		return nil
	}
	if err == nil {
		return nil
	}
	return errors.New("invalid DSN: " + redactDSN(dsnMessage(err), dsn))
}

// dsnMessage is a parser's error without the DSN it quotes: pgconn puts the
// whole string (its password masked, best effort) in every error, and a
// URL's parse error quotes the URL as written, password included.
func dsnMessage(err error) string {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return strings.TrimPrefix(err.Error(), "invalid DSN: ")
	}
	msg := pe.Error()
	inner := errors.Unwrap(pe)
	if inner != nil {
		msg = strings.TrimSuffix(msg, " ("+inner.Error()+")")
	}
	if i := strings.LastIndex(msg, "`: "); i >= 0 {
		msg = msg[i+3:]
	}
	if inner != nil {
		var ue *url.Error
		if errors.As(inner, &ue) {
			inner = ue.Err
		}
		msg += ": " + inner.Error()
	}
	return msg
}

var dsnPasswordKV = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// redactDSN masks anything in msg that could be the DSN's password: a URL's
// or mysql's user:password@, or a password=... keyword value.
func redactDSN(msg, dsn string) string {
	var pws []string
	if at := strings.LastIndex(dsn, "@"); at >= 0 {
		userinfo := dsn[:at]
		if i := strings.Index(userinfo, "://"); i >= 0 {
			userinfo = userinfo[i+3:]
		}
		if _, pw, ok := strings.Cut(userinfo, ":"); ok {
			pws = append(pws, pw)
			if u, err := url.PathUnescape(pw); err == nil {
				pws = append(pws, u)
			}
		}
	}
	for _, m := range dsnPasswordKV.FindAllStringSubmatch(dsn, -1) {
		pws = append(pws, m[1], strings.Trim(m[1], "'"))
	}
	for _, pw := range pws {
		if len(pw) >= 1 {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return oneLine(msg)
}
