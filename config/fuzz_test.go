package config_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
)

// lineRef is how a plan error says where the problem is.
var lineRef = regexp.MustCompile(`\bline [1-9][0-9]*\b`)

// FuzzParsePlan feeds the plan loader arbitrary YAML, seeded with the
// embedded plan and the test plans. It must never panic; a plan it accepts
// passes its own validation, loads its time zone, reads the same twice and
// answers the questions the rest of Herald asks of it; a plan it refuses is
// refused with a message that says where (a line and, for a value, the
// field's path).
func FuzzParsePlan(f *testing.F) {
	for _, seed := range []string{
		string(config.DefaultPlan), base, audiencePlan,
		"", "page: {}\n", "- a\n- b\n", "page:\n  name: [x]\n",
		strings.Replace(base, "rto: 4h", "rto: 4 hours", 1),
		strings.Replace(base, "    name: API\n", "    name: API\n    group: nope\n", 1),
		strings.Replace(base, "  time_zone: UTC\n", "  time_zone: Mars/Olympus\n", 1),
		"a: &a [*a, *a]\nb: *a\n",
		"page:\n  name: x\n  name: y\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := config.ParsePlan(in, "fuzz.yaml")
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "config fuzz.yaml: ") {
				t.Fatalf("error does not name the file: %q", msg)
			}
			if !lineRef.MatchString(msg) && !strings.Contains(msg, "the file is empty") {
				t.Fatalf("error does not say where: %q", msg)
			}
			if errors.Is(err, herald.ErrInvalid) {
				// A validation error carries the field's path after the line.
				if !regexp.MustCompile(`line [0-9]+: [a-z_]+`).MatchString(msg) {
					t.Fatalf("validation error names no field: %q", msg)
				}
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted a plan its own validation refuses: %v", err)
		}
		if _, err := time.LoadLocation(p.Page.TimeZone); err != nil {
			t.Fatalf("accepted time zone %q: %v", p.Page.TimeZone, err)
		}
		again, err := config.ParsePlan(in, "fuzz.yaml")
		if err != nil {
			t.Fatalf("second parse: %v", err)
		}
		if d := cmp.Diff(p, again, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("two parses differ (-first +second):\n%s", d)
		}
		// What start-up and the console ask of a plan.
		for _, pr := range p.Procedures() {
			if _, ok := p.Procedure(pr.Kind, pr.Key); !ok {
				t.Fatalf("procedure %s:%s listed but not found", pr.Kind, pr.Key)
			}
		}
		for _, a := range p.Audiences {
			_ = a.Cadence.String()
			if got, ok := p.AudienceByKey(a.Key); !ok || got.Key != a.Key {
				t.Fatalf("audience %q not found by key", a.Key)
			}
		}
		_, _ = p.PublicAudience()
		_, _ = p.RegulatorAudience()
		_, _ = p.ThreadAudience()
		_ = p.DeclareAudiences()
		for _, s := range p.Exercises.Schedule {
			_ = s.Frequency.String()
		}
	})
}

// FuzzFromEnv reads environment variables from fuzzed text, one NAME=value
// a line, alongside a secret in every secret variable and a database URL
// with a password. It must never panic; whatever it says, in an error or in
// the printed configuration, never contains a secret or the database
// password; and an error names the variable at fault.
func FuzzFromEnv(f *testing.F) {
	f.Add("HERALD_ADDR=:8080\nHERALD_LOG_LEVEL=debug", "postgres://", "herald", "s3cret-Passw0rd", "db:5432/herald")
	f.Add("HERALD_LOG_FORMAT=xml\nHERALD_POLL_INTERVAL=-1s", "mysql://", "root", "hunter2-hunter2", "db/herald")
	f.Add("HERALD_WEBHOOK_ALLOW=127.0.0.1/32, ::1/128,x", "herald", "", "pw-pw-pw-pw", "")
	f.Add("HERALD_QUEUE_JOB_TIMEOUT=5m\nHERALD_DEBUG_ADDR=0.0.0.0:6060", "sqlite:", "", "Zm9vYmFyYmF6", "herald.db")
	f.Add("HERALD_ADMIN_TOKEN=", "postgres:", "u", "correct-horse", "h/db")
	f.Fuzz(func(t *testing.T, lines, scheme, user, password, rest string) {
		const secretValue = "Xy7-fuzz-secret-9Qz"
		env := map[string]string{
			"HERALD_DATABASE_URL": scheme + user + ":" + password + "@" + rest,
		}
		for _, name := range []string{"HERALD_ADMIN_TOKEN", "HERALD_ADMIN_PASSWORD", "HERALD_SLACK_TOKEN", "HERALD_SMTP_URL",
			"HERALD_TWILIO_AUTH_TOKEN", "HERALD_PAGERDUTY_ROUTING_KEY", "HERALD_PAGERDUTY_WEBHOOK_SECRETS",
			"HERALD_AUTOMATION_SECRETS", "HERALD_SLACK_SIGNING_SECRETS"} {
			env[name] = secretValue
		}
		for line := range strings.SplitSeq(lines, "\n") {
			name, value, ok := strings.Cut(line, "=")
			if !ok || !strings.HasPrefix(name, "HERALD_") || strings.HasSuffix(name, "_FILE") {
				continue // files are read from disk: not the fuzzer's to choose
			}
			if _, isSecret := env[name]; isSecret && name != "HERALD_DATABASE_URL" {
				continue
			}
			env[name] = value
		}
		said := func(env map[string]string) string {
			c, err := config.FromEnv(func(k string) string { return env[k] })
			s := c.String() + c.GoString() + c.RedactedDatabaseURL()
			if err != nil {
				s += err.Error()
				if !strings.Contains(err.Error(), "HERALD_") {
					t.Fatalf("error names no variable: %v", err)
				}
			}
			return s
		}
		out := said(env)
		if strings.Contains(out, secretValue) {
			t.Fatalf("a secret is printed: %s", out)
		}
		// The password leaks when what is printed shows it, but not once
		// it is swapped for another of the same length (the fixed text or
		// another setting may contain it by chance). An SQLite path has no
		// password.
		if dialect, _, _ := config.SplitDatabaseURL(env["HERALD_DATABASE_URL"]); dialect == "sqlite" || len(password) < 6 ||
			!strings.Contains(out, password) {
			return
		}
		env["HERALD_DATABASE_URL"] = scheme + user + ":" + strings.Repeat("\x01", len(password)) + "@" + rest
		if !strings.Contains(said(env), password) {
			t.Fatalf("the database password %q is printed: %s", password, out)
		}
	})
}
