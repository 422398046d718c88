// Package notify holds ESM's notification channels beyond the log: email over SMTP now (issue
// 19), chat later. It renders a notification into a message and hands it to a server; who is
// told what, the sent-log and retries belong to the notify activity (activities/notify.go).
package notify

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
)

// TLS modes of an SMTP connection.
const (
	TLSImplicit      = "implicit"      // smtps://: TLS from the first byte (port 465)
	TLSMandatory     = "mandatory"     // STARTTLS, or no mail at all
	TLSOpportunistic = "opportunistic" // STARTTLS when the server offers it, else plain text
	TLSNone          = "none"          // plain text (a local catcher such as Mailpit)
)

// SMTP is where mail goes, parsed from ESM_SMTP_URL:
//
//	smtp://[user:pass@]host[:port][?starttls=mandatory|opportunistic|none]
//	smtps://[user:pass@]host[:port]
//
// smtp:// defaults to port 587 and starttls=mandatory; smtps:// to port 465 with implicit TLS.
// User and password are URL-escaped ("p%40ss" for "p@ss"); without them, no authentication.
type SMTP struct {
	Host     string
	Port     int
	TLS      string
	Username string
	Password string
}

// String shows the server without its password.
func (s SMTP) String() string {
	user := ""
	if s.Username != "" {
		user = s.Username + ":***@"
	}
	return fmt.Sprintf("%s%s (tls %s)", user, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), s.TLS)
}

// ParseSMTPURL parses ESM_SMTP_URL; the error says what is wrong with it (never the password).
func ParseSMTPURL(raw string) (SMTP, error) {
	var s SMTP
	u, err := url.Parse(raw)
	if err != nil {
		// url's errors quote the whole URL, password included: say it without.
		return s, fmt.Errorf("not a URL (want smtp://user:pass@host:port?starttls=mandatory or smtps://...)")
	}
	switch u.Scheme {
	case "smtp":
		s.Port, s.TLS = 587, TLSMandatory
	case "smtps":
		s.Port, s.TLS = 465, TLSImplicit
	default:
		return s, fmt.Errorf("scheme %q: want smtp:// or smtps://", u.Scheme)
	}
	s.Host = u.Hostname()
	if s.Host == "" {
		return s, fmt.Errorf("no host (want smtp://host:port)")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return s, fmt.Errorf("port %q: want 1 to 65535", p)
		}
		s.Port = n
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	if u.Path != "" && u.Path != "/" {
		return s, fmt.Errorf("path %q: an SMTP URL has none", u.Path)
	}
	for k, v := range u.Query() {
		switch k {
		case "starttls":
			if s.TLS == TLSImplicit {
				return s, fmt.Errorf("starttls with smtps://: implicit TLS has no STARTTLS")
			}
			switch m := strings.Join(v, ""); m {
			case TLSMandatory, TLSOpportunistic, TLSNone:
				s.TLS = m
			default:
				return s, fmt.Errorf("starttls=%q: want mandatory, opportunistic or none", m)
			}
		default:
			return s, fmt.Errorf("unknown parameter %q (only starttls)", k)
		}
	}
	return s, nil
}

// ParseFrom parses ESM_MAIL_FROM ("ESM <esm@example.com>" or "esm@example.com"); the domain
// of its address names the Message-IDs.
func ParseFrom(raw string) (*mail.Address, error) {
	a, err := mail.ParseAddress(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not an address (want \"ESM <esm@example.com>\"): %v", raw, err)
	}
	return a, nil
}
