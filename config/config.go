// Package config reads Herald's settings: environment variables into a typed
// Config, and the YAML plan (components, objectives, communication plan,
// failover catalogue) into the domain's Plan.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Secret is a string that never prints: logs and error messages show
// "[redacted]".
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue keeps secrets out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// GoString keeps secrets out of %#v.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText keeps secrets out of encoded output, such as a struct holding
// one logged through slog's JSON handler, which marshals it as JSON.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret's value for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// Config is every setting taken from the environment, parsed once at start.
type Config struct {
	Addr          string        // HERALD_ADDR
	DatabaseURL   string        // HERALD_DATABASE_URL
	ConfigFile    string        // HERALD_CONFIG
	AutoMigrate   bool          // HERALD_AUTO_MIGRATE
	AdminToken    Secret        // HERALD_ADMIN_TOKEN or HERALD_ADMIN_TOKEN_FILE
	LogFormat     string        // HERALD_LOG_FORMAT: text or json
	LogLevel      slog.Level    // HERALD_LOG_LEVEL
	PollInterval  time.Duration // HERALD_POLL_INTERVAL: how often a replica checks for changes made elsewhere
	AdminEmail    string        // HERALD_ADMIN_EMAIL: first admin, created when there are no users
	AdminPassword Secret        // HERALD_ADMIN_PASSWORD or HERALD_ADMIN_PASSWORD_FILE
	CookieSecure  bool          // HERALD_COOKIE_SECURE: default true unless serving on loopback
	DebugAddr     string        // HERALD_DEBUG_ADDR: Go's profiler (net/http/pprof) on this loopback address; off when empty
	// MetricsToken, when set, is the bearer token /metrics asks for;
	// unset, /metrics answers only loopback peers.
	MetricsToken Secret // HERALD_METRICS_TOKEN or HERALD_METRICS_TOKEN_FILE
	// ExportDir keeps a static copy of the public side (the page, the API,
	// the feeds) in this directory while serving, rewritten on every
	// change; `herald export` writes it once. Off when empty.
	ExportDir string // HERALD_EXPORT_DIR

	// The cadence engine and its channels. A channel left unset is off:
	// its deliveries fail with that reason, shown in the console.
	Engine           bool   // HERALD_ENGINE: send deliveries and keep the clocks (default true)
	PublicURL        string // HERALD_PUBLIC_URL: Herald's own base URL, for links and Twilio's callback
	SlackToken       Secret // HERALD_SLACK_TOKEN or HERALD_SLACK_TOKEN_FILE: a bot token (xoxb-…)
	SlackAPIURL      string // HERALD_SLACK_API_URL: Slack's Web API base, for tests and proxies
	SMTPURL          Secret // HERALD_SMTP_URL or HERALD_SMTP_URL_FILE: smtp://user:pass@host:587?from=…
	TwilioAccountSID string // HERALD_TWILIO_ACCOUNT_SID
	TwilioAuthToken  Secret // HERALD_TWILIO_AUTH_TOKEN or HERALD_TWILIO_AUTH_TOKEN_FILE
	TwilioFrom       string // HERALD_TWILIO_FROM: the sender number or Messaging Service SID
	TwilioAPIURL     string // HERALD_TWILIO_API_URL: Twilio's API base, for tests and proxies

	// PagerDuty out (Events API v2) and in (webhooks v3), and the secret
	// failover automations share with Herald.
	PagerDutyRoutingKey     Secret   // HERALD_PAGERDUTY_ROUTING_KEY or _FILE: an Events API v2 integration key
	PagerDutyEventsURL      string   // HERALD_PAGERDUTY_EVENTS_URL: the enqueue endpoint, for tests, proxies, the EU region
	PagerDutyWebhookSecrets []Secret // HERALD_PAGERDUTY_WEBHOOK_SECRETS or _FILE: comma-separated, several during a rotation
	// SlackSigningSecrets verify what Slack sends to /slack/commands and
	// /slack/interactions (the app's Signing Secret; several during a
	// rotation). Without one, /incident is off.
	SlackSigningSecrets []Secret // HERALD_SLACK_SIGNING_SECRETS or _FILE: comma-separated
	AutomationSecrets   []Secret // HERALD_AUTOMATION_SECRETS or _FILE: comma-separated; the first signs Herald's calls

	// Status-page subscribers: how fast each process tells them.
	SubscriberEmailRate   float64 // HERALD_SUBSCRIBER_EMAIL_RATE: emails per second per process (default 50)
	SubscriberSMSRate     float64 // HERALD_SUBSCRIBER_SMS_RATE: texts per second per process (default 10)
	SubscriberWorkers     int     // HERALD_SUBSCRIBER_WORKERS: concurrent subscriber sends per process (default 10)
	SubscriberWebhookRate float64 // HERALD_SUBSCRIBER_WEBHOOK_RATE: webhook calls per second per process (default 50)
	// HERALD_SUBSCRIBER_BUSY_RATE: subscriber messages per second per
	// process and channel while the status page is flooded
	// (PageBusyRequests); 0: never slowed (default 5).
	SubscriberBusyRate float64
	// HERALD_PAGE_BUSY_REQUESTS: public page requests a second (answered
	// by this process) above which the page counts as flooded (default 2000).
	PageBusyRequests float64
	// WebhookDisableAfter: notifications in a row, each given up after
	// its retries, that disable a webhook subscription.
	WebhookDisableAfter int // HERALD_WEBHOOK_DISABLE_AFTER (default 3)
	// WebhookAllow lists networks webhook subscriptions may reach although
	// they are not public (and where http is accepted): for tests and
	// local receivers only. Empty in production.
	WebhookAllow []netip.Prefix // HERALD_WEBHOOK_ALLOW: comma-separated CIDR prefixes, e.g. 127.0.0.1/32
	// TrustedProxies are the load balancers and proxies Herald sits
	// behind: from a peer in them the client's address is read from
	// X-Forwarded-For. Empty: the connection's address is the client's.
	TrustedProxies []netip.Prefix // HERALD_TRUSTED_PROXIES: comma-separated addresses or CIDR prefixes
	// SMSSignupsPerHour caps the confirmation texts the sign-up form sends
	// per hour, across every number, network and replica (SMS pumping).
	SMSSignupsPerHour int // HERALD_SMS_SIGNUPS_PER_HOUR: default DefaultSMSSignupsPerHour; 0: no cap

	// The delivery queue's timing.
	QueueJobTimeout  time.Duration // HERALD_QUEUE_JOB_TIMEOUT: one delivery attempt's limit (default 60s)
	QueueRescueAfter time.Duration // HERALD_QUEUE_RESCUE_AFTER: a job held this long by a vanished process is retried (default 2m)
	// DeliveryRetryFor: a delivery failing temporarily (a vendor down, rate
	// limiting, 5xx) is retried until this long after it was queued.
	DeliveryRetryFor time.Duration // HERALD_DELIVERY_RETRY_FOR (default 1h)
	// ShutdownTimeout bounds a stop (SIGTERM, SIGINT): requests and the
	// deliveries in flight finish within it; deliveries still waiting on
	// a vendor then are cancelled and left to another replica.
	ShutdownTimeout time.Duration // HERALD_SHUTDOWN_TIMEOUT (default 25s)
}

// The queue's default timing.
const (
	DefaultQueueJobTimeout  = time.Minute
	DefaultQueueRescueAfter = 2 * time.Minute
	// DefaultDeliveryRetryFor outlasts a vendor's or mail relay's usual
	// outage (minutes) with room to spare; after it the commander is told.
	DefaultDeliveryRetryFor = time.Hour
	// DefaultShutdownTimeout fits in Kubernetes' default grace period
	// (30 s) before its SIGKILL, and in deploy/'s (45 s, 5 s of preStop).
	DefaultShutdownTimeout = 25 * time.Second
)

// DefaultSMSSignupsPerHour is HERALD_SMS_SIGNUPS_PER_HOUR's default.
const DefaultSMSSignupsPerHour = 200

// DefaultDatabaseURL is an SQLite file in the working directory, so the first
// start needs nothing installed.
const DefaultDatabaseURL = "sqlite:herald.db"

// FromEnv parses the environment. getenv is os.Getenv in production.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Addr:         or(getenv("HERALD_ADDR"), "127.0.0.1:8080"),
		DatabaseURL:  or(getenv("HERALD_DATABASE_URL"), DefaultDatabaseURL),
		ConfigFile:   getenv("HERALD_CONFIG"),
		DebugAddr:    getenv("HERALD_DEBUG_ADDR"),
		ExportDir:    cleanPath(getenv("HERALD_EXPORT_DIR")),
		LogFormat:    or(getenv("HERALD_LOG_FORMAT"), "text"),
		AutoMigrate:  true,
		PollInterval: 2 * time.Second,
	}
	var problems []string
	if c.DebugAddr != "" {
		// The profiler shows memory and goroutines: never beyond this machine.
		host, _, err := net.SplitHostPort(c.DebugAddr)
		if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			problems = append(problems, fmt.Sprintf("HERALD_DEBUG_ADDR %q: must be a loopback address with a port, e.g. 127.0.0.1:6060", c.DebugAddr))
		}
	}
	if v := getenv("HERALD_AUTO_MIGRATE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("HERALD_AUTO_MIGRATE: %q is not true or false", v))
		}
		c.AutoMigrate = b
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		problems = append(problems, fmt.Sprintf("HERALD_LOG_FORMAT: %q is not text or json", c.LogFormat))
	}
	if v := getenv("HERALD_LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			problems = append(problems, fmt.Sprintf("HERALD_LOG_LEVEL: %q is not debug, info, warn or error", v))
		}
	}
	if v := getenv("HERALD_POLL_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			problems = append(problems, fmt.Sprintf("HERALD_POLL_INTERVAL: %q is not a positive duration such as 2s", v))
		}
		c.PollInterval = d
	}
	c.AdminEmail = strings.TrimSpace(getenv("HERALD_ADMIN_EMAIL"))
	pw, err := secret(getenv, "HERALD_ADMIN_PASSWORD")
	if err != nil {
		problems = append(problems, err.Error())
	}
	c.AdminPassword = pw
	if (c.AdminEmail == "") != (pw == "") {
		problems = append(problems, "HERALD_ADMIN_EMAIL and HERALD_ADMIN_PASSWORD go together: set both or neither")
	}
	c.CookieSecure = !loopback(c.Addr)
	if v := getenv("HERALD_COOKIE_SECURE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("HERALD_COOKIE_SECURE: %q is not true or false", v))
		}
		c.CookieSecure = b
	}
	tok, err := secret(getenv, "HERALD_ADMIN_TOKEN")
	if err != nil {
		problems = append(problems, err.Error())
	}
	c.AdminToken = tok
	if tok != "" && len(tok) < 16 {
		problems = append(problems, "HERALD_ADMIN_TOKEN: must be at least 16 characters")
	}
	mtok, err := secret(getenv, "HERALD_METRICS_TOKEN")
	if err != nil {
		problems = append(problems, err.Error())
	}
	c.MetricsToken = mtok
	if mtok != "" && len(mtok) < 16 {
		problems = append(problems, "HERALD_METRICS_TOKEN: must be at least 16 characters")
	}
	c.Engine = true
	if v := getenv("HERALD_ENGINE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("HERALD_ENGINE: %q is not true or false", v))
		}
		c.Engine = b
	}
	c.PublicURL = strings.TrimRight(getenv("HERALD_PUBLIC_URL"), "/")
	c.SlackAPIURL = getenv("HERALD_SLACK_API_URL")
	c.TwilioAccountSID = getenv("HERALD_TWILIO_ACCOUNT_SID")
	c.TwilioFrom = getenv("HERALD_TWILIO_FROM")
	c.TwilioAPIURL = getenv("HERALD_TWILIO_API_URL")
	for _, sec := range []struct {
		name string
		dst  *Secret
	}{{"HERALD_SLACK_TOKEN", &c.SlackToken}, {"HERALD_SMTP_URL", &c.SMTPURL}, {"HERALD_TWILIO_AUTH_TOKEN", &c.TwilioAuthToken}} {
		v, err := secret(getenv, sec.name)
		if err != nil {
			problems = append(problems, err.Error())
		}
		*sec.dst = v
	}
	c.PagerDutyEventsURL = getenv("HERALD_PAGERDUTY_EVENTS_URL")
	if v, err := secret(getenv, "HERALD_PAGERDUTY_ROUTING_KEY"); err != nil {
		problems = append(problems, err.Error())
	} else {
		c.PagerDutyRoutingKey = v
	}
	for _, list := range []struct {
		name string
		dst  *[]Secret
	}{{"HERALD_PAGERDUTY_WEBHOOK_SECRETS", &c.PagerDutyWebhookSecrets}, {"HERALD_AUTOMATION_SECRETS", &c.AutomationSecrets},
		{"HERALD_SLACK_SIGNING_SECRETS", &c.SlackSigningSecrets}} {
		v, err := secret(getenv, list.name)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, part := range strings.Split(v.Reveal(), ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if len(part) < 16 {
				problems = append(problems, list.name+": each secret must be at least 16 characters")
				break
			}
			*list.dst = append(*list.dst, Secret(part))
		}
	}
	if (c.TwilioAccountSID == "") != (c.TwilioAuthToken == "") || (c.TwilioAccountSID != "" && c.TwilioFrom == "") {
		problems = append(problems, "HERALD_TWILIO_ACCOUNT_SID, HERALD_TWILIO_AUTH_TOKEN and HERALD_TWILIO_FROM go together: set all three or none")
	}
	c.SubscriberEmailRate, c.SubscriberSMSRate, c.SubscriberWebhookRate, c.SubscriberWorkers = 50, 10, 50, 10
	for _, r := range []struct {
		name string
		dst  *float64
	}{{"HERALD_SUBSCRIBER_EMAIL_RATE", &c.SubscriberEmailRate}, {"HERALD_SUBSCRIBER_SMS_RATE", &c.SubscriberSMSRate},
		{"HERALD_SUBSCRIBER_WEBHOOK_RATE", &c.SubscriberWebhookRate}} {
		if v := getenv(r.name); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 || f > 100000 {
				problems = append(problems, r.name+": want a number of messages per second above 0, e.g. 50")
				continue
			}
			*r.dst = f
		}
	}
	c.SubscriberBusyRate = 5
	if v := getenv("HERALD_SUBSCRIBER_BUSY_RATE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 100000 {
			problems = append(problems, "HERALD_SUBSCRIBER_BUSY_RATE: want a number of messages per second, e.g. 5 (0: never slow down)")
		} else {
			c.SubscriberBusyRate = f
		}
	}
	c.PageBusyRequests = 2000
	if v := getenv("HERALD_PAGE_BUSY_REQUESTS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			problems = append(problems, "HERALD_PAGE_BUSY_REQUESTS: want a number of page requests per second above 0, e.g. 2000")
		} else {
			c.PageBusyRequests = f
		}
	}
	c.WebhookDisableAfter = 3
	if v := getenv("HERALD_WEBHOOK_DISABLE_AFTER"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			problems = append(problems, "HERALD_WEBHOOK_DISABLE_AFTER: want a whole number of notifications from 1 to 1000")
		} else {
			c.WebhookDisableAfter = n
		}
	}
	if v := getenv("HERALD_WEBHOOK_ALLOW"); v != "" {
		for _, part := range strings.Split(v, ",") {
			p, err := netip.ParsePrefix(strings.TrimSpace(part))
			if err != nil {
				problems = append(problems, fmt.Sprintf("HERALD_WEBHOOK_ALLOW: %q is not a CIDR prefix such as 127.0.0.1/32", strings.TrimSpace(part)))
				continue
			}
			c.WebhookAllow = append(c.WebhookAllow, p.Masked())
		}
	}
	proxies, bad := trustedProxies(getenv("HERALD_TRUSTED_PROXIES"))
	c.TrustedProxies = proxies
	for _, b := range bad {
		problems = append(problems, fmt.Sprintf("HERALD_TRUSTED_PROXIES: %q is not an IP address or a CIDR prefix such as 10.0.0.0/8", b))
	}
	if v := getenv("HERALD_SUBSCRIBER_WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			problems = append(problems, "HERALD_SUBSCRIBER_WORKERS: want a whole number from 1 to 1000")
		} else {
			c.SubscriberWorkers = n
		}
	}
	c.SMSSignupsPerHour = DefaultSMSSignupsPerHour
	if v := getenv("HERALD_SMS_SIGNUPS_PER_HOUR"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000 {
			problems = append(problems, "HERALD_SMS_SIGNUPS_PER_HOUR: want a whole number from 0 (no cap) to 1000000")
		} else {
			c.SMSSignupsPerHour = n
		}
	}
	c.QueueJobTimeout, c.QueueRescueAfter, c.DeliveryRetryFor = DefaultQueueJobTimeout, DefaultQueueRescueAfter, DefaultDeliveryRetryFor
	c.ShutdownTimeout = DefaultShutdownTimeout
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"HERALD_QUEUE_JOB_TIMEOUT", &c.QueueJobTimeout}, {"HERALD_QUEUE_RESCUE_AFTER", &c.QueueRescueAfter},
		{"HERALD_DELIVERY_RETRY_FOR", &c.DeliveryRetryFor}, {"HERALD_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout}} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		p, err := time.ParseDuration(v)
		if err != nil || p <= 0 {
			problems = append(problems, fmt.Sprintf("%s: %q is not a positive duration such as 90s or 2m", d.name, v))
			continue
		}
		*d.dst = p
	}
	if c.QueueRescueAfter <= c.QueueJobTimeout {
		problems = append(problems, fmt.Sprintf("HERALD_QUEUE_RESCUE_AFTER (%s) must be longer than HERALD_QUEUE_JOB_TIMEOUT (%s): "+
			"a delivery still being sent would be rescued and sent twice", c.QueueRescueAfter, c.QueueJobTimeout))
	}
	if _, _, err := SplitDatabaseURL(c.DatabaseURL); err != nil {
		problems = append(problems, "HERALD_DATABASE_URL: "+err.Error())
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("config: %s", strings.Join(problems, "; "))
	}
	return c, nil
}

// SplitDatabaseURL tells the dialect ("postgres" or "sqlite") and the
// driver's data source name. Accepted forms:
//
//	postgres://user:pass@host:5432/db?sslmode=require (or postgresql://)
//	sqlite:herald.db, sqlite:/var/lib/herald/herald.db, sqlite::memory:
//	file:herald.db, or a plain path ending in .db, .sqlite or .sqlite3
func SplitDatabaseURL(u string) (dialect, dsn string, err error) {
	if dialect, dsn = dialectOf(u); dialect == "" {
		return "", "", fmt.Errorf("%q is neither postgres://… nor sqlite:PATH", redactURL(u))
	}
	return dialect, dsn, nil
}

// dialectOf is SplitDatabaseURL without the error: "" for a URL it does not
// know.
func dialectOf(u string) (dialect, dsn string) {
	switch {
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return "postgres", u
	case strings.HasPrefix(u, "sqlite://"):
		return "sqlite", strings.TrimPrefix(u, "sqlite://")
	case strings.HasPrefix(u, "sqlite:"):
		return "sqlite", strings.TrimPrefix(u, "sqlite:")
	case strings.HasPrefix(u, "file:"):
		return "sqlite", u
	case strings.HasSuffix(u, ".db"), strings.HasSuffix(u, ".sqlite"), strings.HasSuffix(u, ".sqlite3"):
		return "sqlite", u
	}
	return "", ""
}

// redactURL hides a password in a database URL. An SQLite path has none. A
// URL mistyped without "//" (postgres:user:pass@host/db) still has one: all
// that comes before its host is hidden.
func redactURL(u string) string {
	at := strings.LastIndexByte(u, '@')
	if at < 0 {
		return u
	}
	scheme := strings.Index(u, "://")
	if scheme < 0 || scheme > at {
		if dialect, _ := dialectOf(u); dialect == "sqlite" {
			return u
		}
		prefix := ""
		if i := strings.IndexByte(u, ':'); i > 0 && i < at && isScheme(u[:i]) {
			prefix = u[:i+1]
		}
		return prefix + "[redacted]" + u[at:]
	}
	cred := u[scheme+3 : at]
	if user, _, ok := strings.Cut(cred, ":"); ok {
		return u[:scheme+3] + user + ":[redacted]" + u[at:]
	}
	return u
}

// isScheme reports whether s is a URL scheme: a letter, then letters,
// digits, + - or .
func isScheme(s string) bool {
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return false
		}
	}
	return s != ""
}

// RedactedDatabaseURL is the database URL safe to print.
func (c Config) RedactedDatabaseURL() string { return redactURL(c.DatabaseURL) }

func secret(getenv func(string) string, name string) (Secret, error) {
	if v := getenv(name); v != "" {
		return Secret(v), nil
	}
	if path := getenv(name + "_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %v", name, err)
		}
		return Secret(strings.TrimSpace(string(b))), nil
	}
	return "", nil
}

// trustedProxies parses a comma-separated list of addresses (one host)
// and CIDR prefixes, returning the entries it could not parse. An
// IPv4-mapped IPv6 prefix becomes its IPv4 form: clients' addresses are
// compared unmapped, so the mapped form would never match.
func trustedProxies(v string) (ps []netip.Prefix, bad []string) {
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil || a.Zone() != "" {
				bad = append(bad, part)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		ps = append(ps, p.Masked())
	}
	return ps, bad
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// loopback reports whether addr listens only on this machine, where plain
// HTTP is normal and a Secure cookie would not be sent back.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// plainConfig is Config without its methods, for printing a redacted copy.
type plainConfig Config

func (c Config) redacted() plainConfig {
	r := plainConfig(c)
	r.DatabaseURL = c.RedactedDatabaseURL()
	return r
}

// String prints the configuration with secrets and the database password
// hidden.
func (c Config) String() string { return fmt.Sprintf("%+v", c.redacted()) }

// GoString keeps %#v redacted too.
func (c Config) GoString() string { return fmt.Sprintf("%#v", c.redacted()) }

// LogValue keeps the database password out of structured logs.
func (c Config) LogValue() slog.Value { return slog.AnyValue(c.redacted()) }

// Reveal lists the secrets' values, for the code that signs or verifies.
func Reveal(ss []Secret) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Reveal()
	}
	return out
}

// cleanPath cleans a directory path, keeping "" (unset) as it is.
func cleanPath(p string) string {
	if strings.TrimSpace(p) == "" {
		return ""
	}
	return filepath.Clean(p)
}
