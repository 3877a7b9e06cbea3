package email

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TLSMode is how the connection to the SMTP server is encrypted.
type TLSMode string

// The TLS modes HERALD_SMTP_URL's tls parameter accepts.
const (
	// StartTLS upgrades a plain connection (port 587) and refuses to go on
	// if the server does not offer STARTTLS.
	StartTLS TLSMode = "starttls"
	// ImplicitTLS speaks TLS from the first byte (port 465, smtps://).
	ImplicitTLS TLSMode = "tls"
	// NoTLS sends everything in clear text: for a relay on the same host or
	// a test server only.
	NoTLS TLSMode = "none"
)

// Default ports, by TLS mode.
const (
	SubmissionPort = 587
	SMTPSPort      = 465
)

// DefaultTimeout bounds connecting to the SMTP server (dial, greeting, EHLO,
// STARTTLS, AUTH), and each Send's conversation with it (every command and
// the message, together; on a new connection, from when it connected).
const DefaultTimeout = 30 * time.Second

// Config is where and how to send email, usually parsed from HERALD_SMTP_URL.
// Password is a secret: String, GoString and LogValue redact it.
type Config struct {
	Host     string
	Port     int
	Username string // empty: no SMTP AUTH
	Password string
	From     string  // default sender, e.g. "Herald <herald@kredete.com>"
	TLS      TLSMode // empty means StartTLS
	Timeout  time.Duration
}

const redacted = "[redacted]"

// ParseURL parses a HERALD_SMTP_URL such as
//
//	smtp://user:pass@smtp.example.com:587?from=herald@kredete.com&tls=starttls
//
// smtps:// implies tls=tls. tls is starttls (the default), tls or none; the
// port defaults to 587, or 465 with tls=tls. from is required. timeout (a Go
// duration) is optional. Characters such as @, : and / in the user name or
// password must be percent-encoded. Errors name the problem but never repeat
// the password.
func ParseURL(s string) (Config, error) {
	var c Config
	if strings.TrimSpace(s) == "" {
		return c, errors.New("email: HERALD_SMTP_URL is empty")
	}
	// Take the user information out before url.Parse sees it: its errors
	// quote the input, and the input holds the password.
	rest, user, pass, hasUser, err := splitUserinfo(s)
	if err != nil {
		return c, err
	}
	// From here on, errors quote nothing between the scheme and the query:
	// a password holding an unencoded /, ? or # ends the host part early
	// and leaves pieces of itself in the host, port or path.
	u, err := url.Parse(rest)
	if err != nil {
		if strings.Contains(err.Error(), "port") {
			return c, errors.New("email: HERALD_SMTP_URL has an invalid port" + encodeHint)
		}
		return c, errors.New("email: HERALD_SMTP_URL is not a valid URL" + encodeHint)
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "smtp", "smtps":
	case "":
		return c, errors.New("email: HERALD_SMTP_URL has no scheme; it must start with smtp:// or smtps://")
	default:
		return c, fmt.Errorf("email: HERALD_SMTP_URL scheme %q is not smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" {
		return c, errors.New("email: HERALD_SMTP_URL must look like smtp://host:port?from=...; is // missing after the scheme?")
	}
	if u.Path != "" && u.Path != "/" {
		return c, errors.New("email: HERALD_SMTP_URL has a path; only host, port and query parameters are used" + encodeHint)
	}
	if u.Fragment != "" {
		return c, errors.New("email: HERALD_SMTP_URL has a #fragment" + encodeHint)
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return c, errors.New("email: HERALD_SMTP_URL has no host")
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return c, errors.New("email: HERALD_SMTP_URL query is not valid: write & between parameters and percent-encode % as %25")
	}
	for k, vs := range q {
		switch k {
		case "from", "tls", "timeout":
			if len(vs) > 1 {
				return c, fmt.Errorf("email: HERALD_SMTP_URL gives %s %d times", k, len(vs))
			}
		default:
			if !plainWord(k) {
				return c, errors.New("email: HERALD_SMTP_URL has an unexpected query parameter (known: from, tls, timeout)" + encodeHint)
			}
			return c, fmt.Errorf("email: HERALD_SMTP_URL has an unknown parameter %q (known: from, tls, timeout)", k)
		}
	}

	c.TLS = StartTLS
	if scheme == "smtps" {
		c.TLS = ImplicitTLS
	}
	if v := q.Get("tls"); v != "" {
		mode := TLSMode(strings.ToLower(v))
		switch mode {
		case StartTLS, ImplicitTLS, NoTLS:
		default:
			return c, fmt.Errorf("email: HERALD_SMTP_URL tls=%q is not one of starttls, tls, none", v)
		}
		if scheme == "smtps" && mode != ImplicitTLS {
			return c, fmt.Errorf("email: HERALD_SMTP_URL smtps:// means tls=tls, not tls=%s; use smtp:// for %s", mode, mode)
		}
		c.TLS = mode
	}

	c.Port = SubmissionPort
	if c.TLS == ImplicitTLS {
		c.Port = SMTPSPort
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return c, errors.New("email: HERALD_SMTP_URL port is not a number from 1 to 65535" + encodeHint)
		}
		c.Port = n
	}

	if hasUser {
		switch {
		case user == "":
			return c, errors.New("email: HERALD_SMTP_URL has a password but no user name")
		case pass == "":
			return c, errors.New("email: HERALD_SMTP_URL has a user name but no password (smtp://user:password@host)")
		}
		c.Username, c.Password = user, pass
	}

	from := q.Get("from")
	if from == "" {
		return c, errors.New("email: HERALD_SMTP_URL needs from=, the sender address (e.g. ?from=herald@kredete.com)")
	}
	if _, err := mail.ParseAddress(from); err != nil {
		return c, fmt.Errorf("email: HERALD_SMTP_URL from=%q is not an email address: %v", from, err)
	}
	c.From = from

	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("email: HERALD_SMTP_URL timeout=%q is not a positive duration such as 30s", v)
		}
		c.Timeout = d
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

const encodeHint = " (percent-encode special characters in the password: / as %2F, ? as %3F, # as %23, @ as %40, : as %3A, % as %25)"

// plainWord reports whether s is a plausible parameter name, safe to quote.
func plainWord(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return s != ""
}

// splitUserinfo removes "user:pass@" from s and unescapes both parts. Only
// the password's position, never its text, appears in its errors.
func splitUserinfo(s string) (rest, user, pass string, ok bool, err error) {
	i := strings.Index(s, "://")
	if i < 0 {
		return s, "", "", false, nil
	}
	authStart := i + 3
	authority := s[authStart:]
	if j := strings.IndexAny(authority, "/?#"); j >= 0 {
		authority = authority[:j]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return s, "", "", false, nil
	}
	info := authority[:at]
	rest = s[:authStart] + s[authStart+at+1:]
	rawUser, rawPass, _ := strings.Cut(info, ":")
	if user, err = url.PathUnescape(rawUser); err != nil {
		return "", "", "", false, errors.New("email: HERALD_SMTP_URL user name is not properly percent-encoded")
	}
	if pass, err = url.PathUnescape(rawPass); err != nil {
		return "", "", "", false, errors.New("email: HERALD_SMTP_URL password is not properly percent-encoded" + encodeHint)
	}
	return rest, user, pass, true, nil
}

// Validate checks a Config built by hand; ParseURL calls it too.
func (c Config) Validate() error {
	switch {
	case c.Host == "":
		return errors.New("email: no SMTP host")
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("email: SMTP port %d is not from 1 to 65535", c.Port)
	case c.Password != "" && c.Username == "":
		return errors.New("email: an SMTP password without a user name")
	}
	switch c.TLS {
	case "", StartTLS, ImplicitTLS, NoTLS:
	default:
		return fmt.Errorf("email: TLS mode %q is not one of starttls, tls, none", c.TLS)
	}
	if c.From != "" {
		if _, err := mail.ParseAddress(c.From); err != nil {
			return fmt.Errorf("email: sender %q is not an email address: %v", c.From, err)
		}
	}
	// Refuse at start what would fail at the first send: the SMTP client
	// will not send a password in clear text except to this machine.
	if c.TLS == NoTLS && c.Username != "" && !isLoopback(c.Host) {
		return fmt.Errorf("email: tls=none would send the SMTP password to %s in clear text; use tls=starttls or tls=tls", c.Host)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c Config) tlsMode() TLSMode {
	if c.TLS == "" {
		return StartTLS
	}
	return c.TLS
}

func (c Config) port() int {
	switch {
	case c.Port != 0:
		return c.Port
	case c.tlsMode() == ImplicitTLS:
		return SMTPSPort
	}
	return SubmissionPort
}

// String is the configuration as a URL with the password redacted, safe to
// print.
func (c Config) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.port()))}
	if c.tlsMode() == ImplicitTLS {
		u.Scheme = "smtps"
	}
	if c.Username != "" {
		if c.Password != "" {
			u.User = url.UserPassword(c.Username, redacted)
		} else {
			u.User = url.User(c.Username)
		}
	}
	q := url.Values{}
	if c.From != "" {
		q.Set("from", c.From)
	}
	q.Set("tls", string(c.tlsMode()))
	if c.Timeout != 0 {
		q.Set("timeout", c.Timeout.String())
	}
	u.RawQuery = q.Encode()
	// url.URL escapes the brackets of "[redacted]"; undo that for reading.
	esc := ":" + url.PathEscape(redacted) + "@"
	return strings.Replace(u.String(), esc, ":"+redacted+"@", 1)
}

// GoString keeps the password out of %#v.
func (c Config) GoString() string {
	r := c
	if r.Password != "" {
		r.Password = redacted
	}
	type plain Config // no methods: no recursion
	return fmt.Sprintf("%#v", plain(r))
}

// LogValue keeps the password out of structured logs.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("host", c.Host),
		slog.Int("port", c.port()),
		slog.String("tls", string(c.tlsMode())),
		slog.String("from", c.From),
	}
	if c.Username != "" {
		attrs = append(attrs, slog.String("username", c.Username))
	}
	if c.Password != "" {
		attrs = append(attrs, slog.String("password", redacted))
	}
	return slog.GroupValue(attrs...)
}
