package config_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kredete/herald/config"
)

// env is a fake environment for FromEnv.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestFromEnvDefaults(t *testing.T) {
	c, err := config.FromEnv(env(nil))
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	want := config.Config{
		Addr:                "127.0.0.1:8080",
		DatabaseURL:         "sqlite:herald.db",
		AutoMigrate:         true,
		LogFormat:           "text",
		LogLevel:            slog.LevelInfo,
		PollInterval:        2 * time.Second,
		Engine:              true,
		SubscriberEmailRate: 50, SubscriberSMSRate: 10, SubscriberWorkers: 10,
		SMSSignupsPerHour: 200, SubscriberWebhookRate: 50, WebhookDisableAfter: 3, SubscriberBusyRate: 5, PageBusyRequests: 2000,
		QueueJobTimeout:  time.Minute,
		QueueRescueAfter: 2 * time.Minute,
		DeliveryRetryFor: time.Hour,
		ShutdownTimeout:  25 * time.Second,
	}
	if diff := cmp.Diff(want, c, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestFromEnv(t *testing.T) {
	c, err := config.FromEnv(env(map[string]string{
		"HERALD_ADDR":                      ":9090",
		"HERALD_DATABASE_URL":              "postgres://herald:pw@db:5432/herald?sslmode=require",
		"HERALD_CONFIG":                    "/etc/herald/plan.yaml",
		"HERALD_AUTO_MIGRATE":              "false",
		"HERALD_ADMIN_TOKEN":               "0123456789abcdef0123",
		"HERALD_METRICS_TOKEN":             "metrics-token-0123456789",
		"HERALD_LOG_FORMAT":                "json",
		"HERALD_LOG_LEVEL":                 "debug",
		"HERALD_POLL_INTERVAL":             "500ms",
		"HERALD_ADMIN_EMAIL":               " ops@kredete.com ",
		"HERALD_ADMIN_PASSWORD":            "a long first password",
		"HERALD_ENGINE":                    "false",
		"HERALD_PUBLIC_URL":                "https://herald.kredete.com/",
		"HERALD_SLACK_TOKEN":               "xoxb-secret",
		"HERALD_SLACK_API_URL":             "http://127.0.0.1:9/api/",
		"HERALD_SMTP_URL":                  "smtp://u:p@mail:587?from=herald@kredete.com",
		"HERALD_TWILIO_ACCOUNT_SID":        "AC123",
		"HERALD_TWILIO_AUTH_TOKEN":         "twilio-secret",
		"HERALD_TWILIO_FROM":               "+15005550006",
		"HERALD_TWILIO_API_URL":            "http://127.0.0.1:9",
		"HERALD_QUEUE_JOB_TIMEOUT":         "2s",
		"HERALD_DEBUG_ADDR":                "127.0.0.1:6060",
		"HERALD_EXPORT_DIR":                "/srv/status//copy/",
		"HERALD_QUEUE_RESCUE_AFTER":        "3s",
		"HERALD_DELIVERY_RETRY_FOR":        "20m",
		"HERALD_SHUTDOWN_TIMEOUT":          "40s",
		"HERALD_PAGERDUTY_ROUTING_KEY":     "0123456789abcdef0123456789abcdef",
		"HERALD_PAGERDUTY_EVENTS_URL":      "http://127.0.0.1:9/v2/enqueue",
		"HERALD_PAGERDUTY_WEBHOOK_SECRETS": "old-webhook-secret-0001, new-webhook-secret-0002",
		"HERALD_AUTOMATION_SECRETS":        "automation-secret-000001",
		"HERALD_SUBSCRIBER_EMAIL_RATE":     "120.5",
		"HERALD_SUBSCRIBER_SMS_RATE":       "3",
		"HERALD_SUBSCRIBER_WORKERS":        "40",
		"HERALD_SMS_SIGNUPS_PER_HOUR":      "50",
		"HERALD_SUBSCRIBER_WEBHOOK_RATE":   "20",
		"HERALD_SUBSCRIBER_BUSY_RATE":      "0",
		"HERALD_PAGE_BUSY_REQUESTS":        "500",
		"HERALD_WEBHOOK_DISABLE_AFTER":     "5",
		"HERALD_SLACK_SIGNING_SECRETS":     "8f742231b10e8888abcd99yyyzzz85a5, 0123456789abcdef0123456789abcdef",
		"HERALD_WEBHOOK_ALLOW":             "127.0.0.1/32, 10.1.2.3/8",
	}))
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	want := config.Config{
		Addr:                ":9090",
		DatabaseURL:         "postgres://herald:pw@db:5432/herald?sslmode=require",
		ConfigFile:          "/etc/herald/plan.yaml",
		AutoMigrate:         false,
		AdminToken:          "0123456789abcdef0123",
		MetricsToken:        "metrics-token-0123456789",
		LogFormat:           "json",
		LogLevel:            slog.LevelDebug,
		PollInterval:        500 * time.Millisecond,
		AdminEmail:          "ops@kredete.com",
		AdminPassword:       "a long first password",
		CookieSecure:        true, // not served on loopback
		Engine:              false,
		PublicURL:           "https://herald.kredete.com",
		SlackToken:          "xoxb-secret",
		SlackAPIURL:         "http://127.0.0.1:9/api/",
		SMTPURL:             "smtp://u:p@mail:587?from=herald@kredete.com",
		TwilioAccountSID:    "AC123",
		TwilioAuthToken:     "twilio-secret",
		TwilioFrom:          "+15005550006",
		TwilioAPIURL:        "http://127.0.0.1:9",
		QueueJobTimeout:     2 * time.Second,
		DebugAddr:           "127.0.0.1:6060",
		ExportDir:           "/srv/status/copy",
		QueueRescueAfter:    3 * time.Second,
		DeliveryRetryFor:    20 * time.Minute,
		ShutdownTimeout:     40 * time.Second,
		PagerDutyRoutingKey: "0123456789abcdef0123456789abcdef", PagerDutyEventsURL: "http://127.0.0.1:9/v2/enqueue",
		PagerDutyWebhookSecrets: []config.Secret{"old-webhook-secret-0001", "new-webhook-secret-0002"},
		AutomationSecrets:       []config.Secret{"automation-secret-000001"},
		SubscriberEmailRate:     120.5, SubscriberSMSRate: 3, SubscriberWorkers: 40,
		SMSSignupsPerHour:     50,
		SubscriberWebhookRate: 20, WebhookDisableAfter: 5, PageBusyRequests: 500,
		SlackSigningSecrets: []config.Secret{"8f742231b10e8888abcd99yyyzzz85a5", "0123456789abcdef0123456789abcdef"},
		WebhookAllow:        []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")},
	}
	if diff := cmp.Diff(want, c, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestDatabaseURL(t *testing.T) {
	tests := []struct {
		url, dialect, dsn string
	}{
		{"sqlite:herald.db", "sqlite", "herald.db"},
		{"sqlite:/var/lib/herald/herald.db", "sqlite", "/var/lib/herald/herald.db"},
		{"sqlite:///var/lib/herald/herald.db", "sqlite", "/var/lib/herald/herald.db"},
		{"sqlite::memory:", "sqlite", ":memory:"},
		{"file:herald.db?cache=shared", "sqlite", "file:herald.db?cache=shared"},
		{"herald.db", "sqlite", "herald.db"},
		{"/data/herald.sqlite", "sqlite", "/data/herald.sqlite"},
		{"./herald.sqlite3", "sqlite", "./herald.sqlite3"},
		{"postgres://herald:pw@db:5432/herald?sslmode=require", "postgres", "postgres://herald:pw@db:5432/herald?sslmode=require"},
		{"postgresql://db/herald", "postgres", "postgresql://db/herald"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			dialect, dsn, err := config.SplitDatabaseURL(tt.url)
			if err != nil || dialect != tt.dialect || dsn != tt.dsn {
				t.Errorf("SplitDatabaseURL(%q) = %q, %q, %v; want %q, %q", tt.url, dialect, dsn, err, tt.dialect, tt.dsn)
			}
			c, err := config.FromEnv(env(map[string]string{"HERALD_DATABASE_URL": tt.url}))
			if err != nil || c.DatabaseURL != tt.url {
				t.Errorf("FromEnv: DatabaseURL %q, %v; want %q", c.DatabaseURL, err, tt.url)
			}
		})
	}
}

func TestFromEnvRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		vars  map[string]string
		wants []string
		never string // must not appear in the message
	}{
		{"auto migrate", map[string]string{"HERALD_AUTO_MIGRATE": "maybe"}, []string{"HERALD_AUTO_MIGRATE", `"maybe"`}, ""},
		{"log format", map[string]string{"HERALD_LOG_FORMAT": "xml"}, []string{"HERALD_LOG_FORMAT", `"xml"`, "text or json"}, ""},
		{"log level", map[string]string{"HERALD_LOG_LEVEL": "loud"}, []string{"HERALD_LOG_LEVEL", `"loud"`}, ""},
		{"poll interval", map[string]string{"HERALD_POLL_INTERVAL": "soon"}, []string{"HERALD_POLL_INTERVAL", `"soon"`}, ""},
		{"zero poll interval", map[string]string{"HERALD_POLL_INTERVAL": "0s"}, []string{"HERALD_POLL_INTERVAL", "positive"}, ""},
		{"negative poll interval", map[string]string{"HERALD_POLL_INTERVAL": "-1s"}, []string{"HERALD_POLL_INTERVAL"}, ""},
		{"short token", map[string]string{"HERALD_ADMIN_TOKEN": "hunter2"}, []string{"HERALD_ADMIN_TOKEN", "16 characters"}, "hunter2"},
		{"missing token file", map[string]string{"HERALD_ADMIN_TOKEN_FILE": filepath.Join(dir, "nope")}, []string{"HERALD_ADMIN_TOKEN_FILE", "nope"}, ""},
		{"short metrics token", map[string]string{"HERALD_METRICS_TOKEN": "scrape-me"}, []string{"HERALD_METRICS_TOKEN", "16 characters"}, "scrape-me"},
		{"missing metrics token file", map[string]string{"HERALD_METRICS_TOKEN_FILE": filepath.Join(dir, "nope")}, []string{"HERALD_METRICS_TOKEN_FILE", "nope"}, ""},
		{"unknown database", map[string]string{"HERALD_DATABASE_URL": "mysql://root:hunter2@db/herald"}, []string{"HERALD_DATABASE_URL", "root:[redacted]@db"}, "hunter2"},
		{"database without scheme", map[string]string{"HERALD_DATABASE_URL": "herald"}, []string{"HERALD_DATABASE_URL", `"herald"`}, ""},
		{"database url without //", map[string]string{"HERALD_DATABASE_URL": "postgres:herald:hunter2@db/herald"},
			[]string{"HERALD_DATABASE_URL", `"postgres:[redacted]@db/herald"`}, "hunter2"},
		{"admin email without password", map[string]string{"HERALD_ADMIN_EMAIL": "ops@kredete.com"},
			[]string{"HERALD_ADMIN_EMAIL", "HERALD_ADMIN_PASSWORD"}, ""},
		{"short automation secret", map[string]string{"HERALD_AUTOMATION_SECRETS": "long-enough-secret-01,tiny"},
			[]string{"HERALD_AUTOMATION_SECRETS", "16 characters"}, "tiny"},
		{"short webhook secret", map[string]string{"HERALD_PAGERDUTY_WEBHOOK_SECRETS": "pd-short"},
			[]string{"HERALD_PAGERDUTY_WEBHOOK_SECRETS", "16 characters"}, "pd-short"},
		{"email rate", map[string]string{"HERALD_SUBSCRIBER_EMAIL_RATE": "fast"}, []string{"HERALD_SUBSCRIBER_EMAIL_RATE", "per second"}, ""},
		{"zero sms rate", map[string]string{"HERALD_SUBSCRIBER_SMS_RATE": "0"}, []string{"HERALD_SUBSCRIBER_SMS_RATE"}, ""},
		{"subscriber workers", map[string]string{"HERALD_SUBSCRIBER_WORKERS": "0"}, []string{"HERALD_SUBSCRIBER_WORKERS", "1 to 1000"}, ""},
		{"sms sign-ups per hour", map[string]string{"HERALD_SMS_SIGNUPS_PER_HOUR": "lots"}, []string{"HERALD_SMS_SIGNUPS_PER_HOUR", "0 (no cap)"}, ""},
		{"negative sms sign-ups per hour", map[string]string{"HERALD_SMS_SIGNUPS_PER_HOUR": "-1"}, []string{"HERALD_SMS_SIGNUPS_PER_HOUR"}, ""},
		{"webhook allow-list", map[string]string{"HERALD_WEBHOOK_ALLOW": "127.0.0.1"}, []string{"HERALD_WEBHOOK_ALLOW", `"127.0.0.1" is not a CIDR prefix`}, ""},
		{"webhook disable after", map[string]string{"HERALD_WEBHOOK_DISABLE_AFTER": "0"}, []string{"HERALD_WEBHOOK_DISABLE_AFTER", "1 to 1000"}, ""},
		{"webhook rate", map[string]string{"HERALD_SUBSCRIBER_WEBHOOK_RATE": "fast"}, []string{"HERALD_SUBSCRIBER_WEBHOOK_RATE"}, ""},
		{"busy rate", map[string]string{"HERALD_SUBSCRIBER_BUSY_RATE": "-1"}, []string{"HERALD_SUBSCRIBER_BUSY_RATE"}, ""},
		{"page busy requests", map[string]string{"HERALD_PAGE_BUSY_REQUESTS": "0"}, []string{"HERALD_PAGE_BUSY_REQUESTS"}, ""},
		{"admin password without email", map[string]string{"HERALD_ADMIN_PASSWORD": "pa55word-nobody-sees"},
			[]string{"HERALD_ADMIN_EMAIL", "HERALD_ADMIN_PASSWORD"}, "pa55word-nobody-sees"},
		{"missing password file", map[string]string{"HERALD_ADMIN_EMAIL": "ops@kredete.com", "HERALD_ADMIN_PASSWORD_FILE": filepath.Join(dir, "pw")},
			[]string{"HERALD_ADMIN_PASSWORD_FILE"}, ""},
		{"cookie secure", map[string]string{"HERALD_COOKIE_SECURE": "sometimes"}, []string{"HERALD_COOKIE_SECURE", `"sometimes"`}, ""},
		{"every problem at once", map[string]string{"HERALD_LOG_FORMAT": "xml", "HERALD_POLL_INTERVAL": "soon"},
			[]string{"HERALD_LOG_FORMAT", "HERALD_POLL_INTERVAL"}, ""},
		{"debug address off the machine", map[string]string{"HERALD_DEBUG_ADDR": "0.0.0.0:6060"}, []string{"HERALD_DEBUG_ADDR", "loopback"}, ""},
		{"debug address without a port", map[string]string{"HERALD_DEBUG_ADDR": "127.0.0.1"}, []string{"HERALD_DEBUG_ADDR", "loopback"}, ""},
		{"job timeout", map[string]string{"HERALD_QUEUE_JOB_TIMEOUT": "a minute"}, []string{"HERALD_QUEUE_JOB_TIMEOUT", `"a minute"`}, ""},
		{"zero job timeout", map[string]string{"HERALD_QUEUE_JOB_TIMEOUT": "0s"}, []string{"HERALD_QUEUE_JOB_TIMEOUT", "positive"}, ""},
		{"shutdown timeout", map[string]string{"HERALD_SHUTDOWN_TIMEOUT": "-5s"}, []string{"HERALD_SHUTDOWN_TIMEOUT", `"-5s"`, "positive"}, ""},
		{"rescue after", map[string]string{"HERALD_QUEUE_RESCUE_AFTER": "later"}, []string{"HERALD_QUEUE_RESCUE_AFTER", `"later"`}, ""},
		{"negative rescue after", map[string]string{"HERALD_QUEUE_RESCUE_AFTER": "-2m"}, []string{"HERALD_QUEUE_RESCUE_AFTER", "positive"}, ""},
		{"retry for", map[string]string{"HERALD_DELIVERY_RETRY_FOR": "an hour"}, []string{"HERALD_DELIVERY_RETRY_FOR", `"an hour"`}, ""},
		{"zero retry for", map[string]string{"HERALD_DELIVERY_RETRY_FOR": "0"}, []string{"HERALD_DELIVERY_RETRY_FOR", "positive"}, ""},
		{"rescue before the timeout", map[string]string{"HERALD_QUEUE_JOB_TIMEOUT": "5m"},
			[]string{"HERALD_QUEUE_RESCUE_AFTER (2m0s)", "HERALD_QUEUE_JOB_TIMEOUT (5m0s)", "longer"}, ""},
		{"rescue as long as the timeout", map[string]string{"HERALD_QUEUE_JOB_TIMEOUT": "30s", "HERALD_QUEUE_RESCUE_AFTER": "30s"},
			[]string{"HERALD_QUEUE_RESCUE_AFTER", "HERALD_QUEUE_JOB_TIMEOUT"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.FromEnv(env(tt.vars))
			if err == nil {
				t.Fatal("FromEnv accepted the environment; want an error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not contain %q", err, w)
				}
			}
			if tt.never != "" && strings.Contains(err.Error(), tt.never) {
				t.Errorf("message %q leaks %q", err, tt.never)
			}
		})
	}
}

func TestCookieSecure(t *testing.T) {
	tests := []struct {
		addr, override string
		want           bool
	}{
		{"", "", false}, // the default 127.0.0.1:8080
		{"127.0.0.1:9000", "", false},
		{"localhost:8080", "", false},
		{"[::1]:8080", "", false},
		{":8080", "", true}, // every interface
		{"0.0.0.0:8080", "", true},
		{"10.0.0.5:8080", "", true},
		{"status.kredete.com:443", "", true},
		{":8080", "false", false}, // behind a proxy that speaks TLS
		{"127.0.0.1:8080", "true", true},
	}
	for _, tt := range tests {
		t.Run(tt.addr+" "+tt.override, func(t *testing.T) {
			c, err := config.FromEnv(env(map[string]string{"HERALD_ADDR": tt.addr, "HERALD_COOKIE_SECURE": tt.override}))
			if err != nil {
				t.Fatalf("FromEnv: %v", err)
			}
			if c.CookieSecure != tt.want {
				t.Errorf("CookieSecure = %v; want %v", c.CookieSecure, tt.want)
			}
		})
	}
}

func TestSecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("  s3cret-token-from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.FromEnv(env(map[string]string{"HERALD_ADMIN_TOKEN_FILE": path}))
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	if got := c.AdminToken.Reveal(); got != "s3cret-token-from-a-file" {
		t.Errorf("token from file = %q; want it trimmed", got)
	}
	t.Run("admin password", func(t *testing.T) {
		pw := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(pw, []byte("first admin password\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.FromEnv(env(map[string]string{"HERALD_ADMIN_EMAIL": "ops@kredete.com", "HERALD_ADMIN_PASSWORD_FILE": pw}))
		if err != nil {
			t.Fatalf("FromEnv: %v", err)
		}
		if got := c.AdminPassword.Reveal(); got != "first admin password" {
			t.Errorf("password from file = %q; want it trimmed", got)
		}
	})
	t.Run("metrics token", func(t *testing.T) {
		c, err := config.FromEnv(env(map[string]string{"HERALD_METRICS_TOKEN_FILE": path}))
		if err != nil {
			t.Fatalf("FromEnv: %v", err)
		}
		if got := c.MetricsToken.Reveal(); got != "s3cret-token-from-a-file" {
			t.Errorf("metrics token from file = %q; want it trimmed", got)
		}
	})
	t.Run("too short", func(t *testing.T) {
		if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := config.FromEnv(env(map[string]string{"HERALD_ADMIN_TOKEN_FILE": path})); err == nil ||
			!strings.Contains(err.Error(), "16 characters") {
			t.Errorf("FromEnv with a short token file = %v; want the length refused", err)
		}
	})
}

func TestSecretNeverPrints(t *testing.T) {
	const value = "correct-horse-battery-staple"
	s := config.Secret(value)
	c := config.Config{Addr: ":8080", AdminToken: s, AdminPassword: s, MetricsToken: s, DatabaseURL: "postgres://herald:dbpass@db/herald"}

	var text, jsonOut bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("start", "token", s, "config", c)
	slog.New(slog.NewJSONHandler(&jsonOut, nil)).Info("start", "token", s, "config", c)
	slog.New(slog.NewJSONHandler(&jsonOut, nil)).Info("start", slog.Any("token", s), slog.String("str", s.String()))

	outputs := map[string]string{
		"%v":           fmt.Sprintf("%v", s),
		"%s":           fmt.Sprintf("%s", s),
		"%q":           fmt.Sprintf("%q", s),
		"%+v":          fmt.Sprintf("%+v", s),
		"%#v":          fmt.Sprintf("%#v", s),
		"Println":      fmt.Sprintln(s),
		"config %v":    fmt.Sprintf("%v", c),
		"config %+v":   fmt.Sprintf("%+v", c),
		"config %#v":   fmt.Sprintf("%#v", c),
		"&config %+v":  fmt.Sprintf("%+v", &c),
		"slog text":    text.String(),
		"slog json":    jsonOut.String(),
		"String()":     s.String(),
		"LogValue":     s.LogValue().String(),
		"database url": c.RedactedDatabaseURL(),
	}
	for name, out := range outputs {
		if strings.Contains(out, value) {
			t.Errorf("%s prints the secret: %s", name, out)
		}
		if name != "database url" && !strings.Contains(out, "[redacted]") {
			t.Errorf("%s does not say [redacted]: %s", name, out)
		}
	}
	if strings.Contains(c.RedactedDatabaseURL(), "dbpass") {
		t.Errorf("RedactedDatabaseURL() = %q leaks the password", c.RedactedDatabaseURL())
	}
	if got, want := c.RedactedDatabaseURL(), "postgres://herald:[redacted]@db/herald"; got != want {
		t.Errorf("RedactedDatabaseURL() = %q; want %q", got, want)
	}
	if s.Reveal() != value {
		t.Errorf("Reveal() = %q; want the value", s.Reveal())
	}
	if got := config.Secret("").String(); got != "" {
		t.Errorf("an empty secret prints %q; want nothing", got)
	}
}

// TestRedactedDatabaseURL: a password is hidden however the URL is
// written, a path (SQLite's) is shown as it is.
func TestRedactedDatabaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://herald:pw@db/herald": "postgres://herald:[redacted]@db/herald",
		"postgres://herald@db/herald":    "postgres://herald@db/herald",
		"postgres:herald:pw@db/herald":   "postgres:[redacted]@db/herald",
		"herald:pw@db":                   "herald:[redacted]@db",
		"user:pw@db/herald":              "user:[redacted]@db/herald",
		"9x:pw@db":                       "[redacted]@db",
		"sqlite:/var/lib/a@b/herald.db":  "sqlite:/var/lib/a@b/herald.db",
		"/srv/herald@2026/herald.db":     "/srv/herald@2026/herald.db",
		"sqlite:herald.db":               "sqlite:herald.db",
	} {
		if got := (config.Config{DatabaseURL: in}).RedactedDatabaseURL(); got != want {
			t.Errorf("RedactedDatabaseURL(%q) = %q; want %q", in, got, want)
		}
	}
}
