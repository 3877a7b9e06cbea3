package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
)

func TestDefaultPlan(t *testing.T) {
	p, err := config.LoadPlan("")
	if err != nil {
		t.Fatalf("LoadPlan(\"\"): %v", err)
	}

	t.Run("page", func(t *testing.T) {
		want := herald.Page{ID: "kredete", Name: "Kredete", URL: "https://status.kredete.com", TimeZone: "UTC"}
		if diff := cmp.Diff(want, p.Page); diff != "" {
			t.Errorf("page (-want +got):\n%s", diff)
		}
	})

	t.Run("objectives", func(t *testing.T) {
		want := herald.Objectives{RTO: 4 * time.Hour, RPO: time.Hour, Availability: 0.9999}
		if p.Objectives != want {
			t.Errorf("objectives = %+v; want %+v", p.Objectives, want)
		}
	})

	t.Run("components", func(t *testing.T) {
		want := []herald.ComponentSpec{
			{Key: "api-platform", Name: "API Platform", Description: "Public and partner-facing REST APIs."},
			{Key: "credit-origination", Name: "Credit Origination", Description: "Loan applications, scoring and disbursement."},
			{Key: "partner-integrations", Name: "Partner Integrations", Description: "Connections to banks, bureaus and payment partners."},
			{Key: "customer-portal", Name: "Customer Portal", Description: "The web and mobile experience for borrowers."},
			{Key: "admin-dashboard", Name: "Admin Dashboard", Description: "Internal operations and back-office tools."},
		}
		if diff := cmp.Diff(want, p.Components); diff != "" {
			t.Errorf("components (-want +got):\n%s", diff)
		}
	})

	t.Run("audiences", func(t *testing.T) {
		want := []herald.Audience{
			{Key: "engineering", Name: "Engineering Team", Channels: []herald.Channel{herald.ChannelSlack},
				Cadence: herald.Cadence{Kind: herald.RealTime}, Description: "Slack #incident-response",
				Recipients: herald.Recipients{SlackChannel: "#incident-response"}},
			{Key: "executives", Name: "Executive Team", Channels: []herald.Channel{herald.ChannelEmail, herald.ChannelSMS},
				Cadence: herald.Cadence{Kind: herald.Every, Interval: 30 * time.Minute}, Description: "Email + SMS",
				Recipients: herald.Recipients{Emails: []string{"executives@kredete.example"}},
				ReminderPolicy: herald.ReminderPolicy{Before: []time.Duration{5 * time.Minute},
					Whom: []herald.IncidentRole{herald.SeatCommander, herald.SeatDeputy}, Channels: []herald.Channel{herald.ChannelSlack, herald.ChannelSMS}},
				OnDue:    herald.DueHolding,
				ByImpact: map[herald.Impact]herald.ImpactOverride{herald.ImpactMinor: {Off: true}, herald.ImpactNone: {Off: true}}},
			{Key: "public", Name: "Partners and clients", Channels: []herald.Channel{herald.ChannelStatusPage},
				Cadence: herald.Cadence{Kind: herald.Every, Interval: 15 * time.Minute}, Description: "Status page (status.kredete.com)",
				ReminderPolicy: herald.ReminderPolicy{Before: []time.Duration{5 * time.Minute}, Every: 5 * time.Minute,
					Whom:          []herald.IncidentRole{herald.SeatCommander, herald.SeatDeputy, herald.SeatCommsLead},
					EscalateAfter: 5 * time.Minute, Channels: []herald.Channel{herald.ChannelSlack, herald.ChannelSMS}},
				OnDue: herald.DueEscalate},
			{Key: "regulators", Name: "Regulators", Channels: []herald.Channel{herald.ChannelPhone},
				Cadence: herald.Cadence{Kind: herald.Deadline, Interval: 4 * time.Hour}, Conditional: true, Description: "Direct call (if required)",
				Recipients: herald.Recipients{Contacts: []herald.Contact{{Name: "Compliance desk", Email: "compliance@kredete.example"}}},
				ReminderPolicy: herald.ReminderPolicy{Before: []time.Duration{time.Hour, 30 * time.Minute}, Every: 15 * time.Minute,
					Whom: []herald.IncidentRole{herald.SeatCommander}, Channels: []herald.Channel{herald.ChannelSlack, herald.ChannelSMS, herald.ChannelEmail}},
				OnDue: herald.DueRemind, RequiredFor: []herald.Impact{herald.ImpactCritical},
				Regulatory: &herald.RegulatoryClock{AfterClassification: 4 * time.Hour, AfterAwareness: 24 * time.Hour,
					Intermediate: 72 * time.Hour, Final: 720 * time.Hour}},
		}
		if diff := cmp.Diff(want, p.Audiences); diff != "" {
			t.Errorf("audiences (-want +got):\n%s", diff)
		}
	})

	t.Run("region failover", func(t *testing.T) {
		if len(p.Failover.Regions) != 1 {
			t.Fatalf("%d region failovers; want 1", len(p.Failover.Regions))
		}
		r := p.Failover.Regions[0]
		if r.From != "af-south-1" || r.To != "eu-west-1" || !r.Automatic {
			t.Errorf("region failover %s → %s (automatic %v); want af-south-1 → eu-west-1, automatic", r.From, r.To, r.Automatic)
		}
		type window struct {
			Name     string
			From, To time.Duration
		}
		var got []window
		for _, s := range r.Stages {
			got = append(got, window{s.Name, s.WindowStart, s.WindowEnd})
			if len(s.Steps) == 0 {
				t.Errorf("stage %q has no steps", s.Name)
			}
		}
		want := []window{
			{"Detection", 0, 2 * time.Minute},
			{"Traffic redirect", 2 * time.Minute, 5 * time.Minute},
			{"Database promotion", 5 * time.Minute, 15 * time.Minute},
			{"Service activation", 15 * time.Minute, 30 * time.Minute},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("stages (-want +got):\n%s", diff)
		}
	})

	t.Run("component failovers", func(t *testing.T) {
		want := []herald.ComponentFailover{
			{Key: "single-az", Name: "Single AZ", Response: "Redistribute to remaining AZs", AutoRecovery: true},
			{Key: "kubernetes-node", Name: "Kubernetes Node", Response: "Pods rescheduled automatically", AutoRecovery: true},
			{Key: "database-primary", Name: "Database Primary", Response: "Automatic failover to standby", AutoRecovery: true},
			{Key: "redis-primary", Name: "Redis Primary", Response: "Sentinel promotes replica", AutoRecovery: true},
			{Key: "kafka-broker", Name: "Kafka Broker", Response: "ISR continues serving", AutoRecovery: true},
		}
		if diff := cmp.Diff(want, p.Failover.Components); diff != "" {
			t.Errorf("component failovers (-want +got):\n%s", diff)
		}
	})

	t.Run("runbooks", func(t *testing.T) {
		if len(p.Failover.Runbooks) != 2 {
			t.Fatalf("%d runbooks; want 2", len(p.Failover.Runbooks))
		}
		db, full := p.Failover.Runbooks[0], p.Failover.Runbooks[1]
		if db.Key != "database-failover" || len(db.Stages) != 6 || db.ExecutorRole != "dba" ||
			db.ApproverRole != "approver" || db.ReplicationLagMs != 100 {
			t.Errorf("database-failover = key %q, %d stages, executor %q, approver %q, lag %d ms; "+
				"want database-failover, 6, dba, approver, 100",
				db.Key, len(db.Stages), db.ExecutorRole, db.ApproverRole, db.ReplicationLagMs)
		}
		for _, s := range db.Stages {
			if s.Command == "" || strings.HasSuffix(s.Command, "\n") {
				t.Errorf("stage %q command %q: want a command without a trailing newline", s.Name, s.Command)
			}
		}
		if full.Key != "complete-system-recovery" || len(full.Stages) != 5 || full.EstimatedTime != 4*time.Hour {
			t.Errorf("complete-system-recovery = key %q, %d stages, %v; want complete-system-recovery, 5, 4h",
				full.Key, len(full.Stages), full.EstimatedTime)
		}
		var est []time.Duration
		for _, s := range full.Stages {
			est = append(est, s.EstimatedTime)
		}
		if diff := cmp.Diff([]time.Duration{30 * time.Minute, time.Hour, 30 * time.Minute, 30 * time.Minute, 5 * time.Minute}, est); diff != "" {
			t.Errorf("stage estimates (-want +got):\n%s", diff)
		}
	})

	t.Run("LoadPlan reads the same file from disk", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "herald.yaml")
		if err := os.WriteFile(path, config.DefaultPlan, 0o600); err != nil {
			t.Fatal(err)
		}
		fromDisk, err := config.LoadPlan(path)
		if err != nil {
			t.Fatalf("LoadPlan(%s): %v", path, err)
		}
		if diff := cmp.Diff(p, fromDisk, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("plan from disk differs from the embedded one (-embedded +disk):\n%s", diff)
		}
	})
}

func TestLoadPlanMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	_, err := config.LoadPlan(path)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadPlan(missing) = %v; want a not-exist error naming the path", err)
	}
}

// base is a small valid plan; each bad file below changes one thing in it.
// Line numbers matter: the tests expect them in the messages.
const base = `page:
  name: Test
  time_zone: UTC
objectives:
  rto: 4h
  rpo: 1h
  availability: 99.99%
components:
  - key: api
    name: API
audiences:
  - key: eng
    name: Engineering
    channels: [slack]
    cadence: real_time
failover:
  regions:
    - key: primary
      name: Primary
      from: af-south-1
      to: eu-west-1
      stages:
        - name: Detection
          window: 0m-2m
`

func TestParsePlan(t *testing.T) {
	p, err := config.ParsePlan([]byte(base), "base.yaml")
	if err != nil {
		t.Fatalf("base plan: %v", err)
	}
	if p.Page.ID != "herald" {
		t.Errorf("page id = %q; want the default herald", p.Page.ID)
	}
	tests := []struct {
		name    string
		old     string // replaced in base
		new     string
		want    []string // every one must appear in the message
		invalid bool     // the error matches herald.ErrInvalid
	}{
		{
			name: "availability as a fraction",
			old:  "availability: 99.99%", new: "availability: 0.9999",
		},
		{
			name: "cadences", old: "cadence: real_time", new: "cadence: within 90m",
		},
		{
			name: "unknown field",
			old:  "  time_zone: UTC\n", new: "  time_zone: UTC\n  colour: red\n",
			want: []string{"base.yaml", "line 4", "page.colour", `unknown field "colour"`},
		},
		{
			name: "unknown nested field",
			old:  "    cadence: real_time\n", new: "    cadence: real_time\n    cadance: every 5m\n",
			want: []string{"line 16", "audiences[0].cadance", `unknown field "cadance"`},
		},
		{
			name: "bad duration",
			old:  "rto: 4h", new: "rto: 4 hours",
			want: []string{"line 5", "objectives.rto", `"4 hours"`},
		},
		{
			name: "negative duration",
			old:  "rpo: 1h", new: "rpo: -1h",
			want: []string{"line 6", "objectives.rpo"},
		},
		{
			name: "bad availability",
			old:  "availability: 99.99%", new: "availability: lots",
			want: []string{"line 7", "objectives.availability", `"lots"`},
		},
		{
			name: "bad cadence",
			old:  "cadence: real_time", new: "cadence: sometimes",
			want: []string{"line 15", "audiences[0].cadence", `"sometimes"`, "real_time, every <duration>, within <duration>"},
		},
		{
			name: "cadence without a positive interval",
			old:  "cadence: real_time", new: "cadence: every 0m",
			want: []string{"line 15", "audiences[0].cadence"},
		},
		{
			name: "bad window",
			old:  "window: 0m-2m", new: "window: 2 minutes",
			want: []string{"line 24", "failover.regions[0].stages[0].window"},
		},
		{
			name: "empty component name",
			old:  "    name: API\n", new: "    name: \"\"\n",
			want: []string{"line 10", "components[0].name", "must not be empty"}, invalid: true,
		},
		{
			name: "missing component name",
			old:  "    name: API\n", new: "",
			want: []string{"line 9", "components[0].name", "must not be empty"}, invalid: true,
		},
		{
			name: "duplicate component key",
			old:  "    name: API\n", new: "    name: API\n  - key: api\n    name: API again\n",
			want: []string{"line 11", "components[1].key", `"api" is used twice`}, invalid: true,
		},
		{
			name: "unknown group",
			old:  "    name: API\n", new: "    name: API\n    group: nope\n",
			want: []string{"line 11", "components[0].group", `"nope" is not a key listed under groups`}, invalid: true,
		},
		{
			name: "group without components",
			old:  "components:\n", new: "groups:\n  - key: lending\n    name: Lending\ncomponents:\n",
			want: []string{"line 9", "groups[0]", `group "lending" has no components`}, invalid: true,
		},
		{
			name: "group without a name",
			old:  "components:\n  - key: api\n    name: API\n",
			new:  "groups:\n  - key: lending\ncomponents:\n  - key: api\n    name: API\n    group: lending\n",
			want: []string{"line 9", "groups[0].name", "must not be empty"}, invalid: true,
		},
		{
			name: "unknown group field",
			old:  "components:\n", new: "groups:\n  - key: lending\n    name: Lending\n    members: [api]\ncomponents:\n",
			want: []string{"line 11", "groups[0].members", `unknown field "members"`},
		},
		{
			name: "duplicate mapping key",
			old:  "  name: Test\n", new: "  name: Test\n  name: Again\n",
			want: []string{"line 3", `"name" already defined at line 2`},
		},
		{
			name: "unknown channel",
			old:  "channels: [slack]", new: "channels: [pigeon]",
			want: []string{"line 14", "audiences[0].channels[0]", `"pigeon"`, "slack, email, sms, status_page, phone"}, invalid: true,
		},
		{
			name: "unknown time zone",
			old:  "time_zone: UTC", new: "time_zone: Mars/Olympus_Mons",
			want: []string{"line 3", "page.time_zone", `"Mars/Olympus_Mons"`},
		},
		{
			name: "missing time zone",
			old:  "  time_zone: UTC\n", new: "",
			want: []string{"page.time_zone", "must not be empty"}, invalid: true,
		},
		{
			name: "wrong type",
			old:  "components:\n  - key: api\n    name: API\n", new: "components: all of them\n",
			want: []string{"line 8", "components", "`all of ...` into a list"},
		},
		{
			name: "broken YAML",
			old:  "channels: [slack]", new: "channels: [slack",
			want: []string{"line"},
		},
		{
			name: "stage window ends before it starts",
			old:  "window: 0m-2m", new: "window: 5m-2m",
			want: []string{"line 24", "failover.regions[0].stages[0].window", "ends before it starts"}, invalid: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(base, tt.old) {
				t.Fatalf("base has no %q", tt.old)
			}
			_, err := config.ParsePlan([]byte(strings.Replace(base, tt.old, tt.new, 1)), "base.yaml")
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ParsePlan: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ParsePlan accepted the file; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "config base.yaml: ") {
				t.Errorf("message %q does not start with the file name", err)
			}
			if tt.invalid && !errors.Is(err, herald.ErrInvalid) {
				t.Errorf("error %v does not match herald.ErrInvalid", err)
			}
		})
	}
}

func TestParsePlanEmpty(t *testing.T) {
	for name, content := range map[string]string{
		"empty":         "",
		"blank":         "\n\n   \n",
		"only comments": "# nothing here yet\n# still nothing\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.ParsePlan([]byte(content), "empty.yaml")
			if err == nil || !strings.Contains(err.Error(), "empty.yaml") || !strings.Contains(err.Error(), "empty") {
				t.Errorf("ParsePlan(%q) = %v; want an error saying the file is empty", content, err)
			}
		})
	}
}

// TestParsePlanSyntaxLine: a syntax error says its line, also on the first
// line and for a character YAML cannot read (the YAML library gives neither).
func TestParsePlanSyntaxLine(t *testing.T) {
	for content, want := range map[string]string{
		`"`:                              "line 1: ",
		"page: [\n":                      "line 1: ", // where the unclosed [ is
		"page:\n  name: x\n  id: \x01\n": "line 3: ",
		"page:\n  name: \xff\n":          "line 2: ",
	} {
		_, err := config.ParsePlan([]byte(content), "x.yaml")
		if err == nil || !strings.HasPrefix(err.Error(), "config x.yaml: "+want) {
			t.Errorf("ParsePlan(%q) = %v; want config x.yaml: %s...", content, err, want)
		}
	}
}

func TestParsePlanAvailability(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want float64
	}{
		{"99.99%", 0.9999},
		{"99.99", 0.9999},
		{"0.9999", 0.9999},
		{"99.9%", 0.999},
	} {
		t.Run(tt.in, func(t *testing.T) {
			p, err := config.ParsePlan([]byte(strings.Replace(base, "99.99%", tt.in, 1)), "base.yaml")
			if err != nil {
				t.Fatalf("ParsePlan: %v", err)
			}
			// Exactly equal: the target is compared with >=, so 0.99989999… would
			// let an availability below 99.99% meet it.
			if p.Objectives.Availability != tt.want {
				t.Errorf("availability %s = %v; want exactly %v", tt.in, p.Objectives.Availability, tt.want)
			}
		})
	}
}

// TestParsePlanGroups: groups: and a component's group: reach the plan.
func TestParsePlanGroups(t *testing.T) {
	const components = "components:\n  - key: api\n    name: API\n"
	if !strings.Contains(base, components) {
		t.Fatalf("base has no %q", components)
	}
	grouped := strings.Replace(base, components, `groups:
  - key: lending
    name: Lending
    description: Everything a borrower touches.
  - key: edge
    name: Edge
components:
  - key: api
    name: API
    group: edge
  - key: loans
    name: Loans
    description: Applications and disbursement.
    group: lending
  - key: portal
    name: Portal
  - key: scoring
    name: Scoring
    group: lending
`, 1)
	p, err := config.ParsePlan([]byte(grouped), "groups.yaml")
	if err != nil {
		t.Fatalf("ParsePlan: %v", err)
	}
	wantGroups := []herald.GroupSpec{
		{Key: "lending", Name: "Lending", Description: "Everything a borrower touches."},
		{Key: "edge", Name: "Edge"},
	}
	if diff := cmp.Diff(wantGroups, p.Groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	wantComps := []herald.ComponentSpec{
		{Key: "api", Name: "API", Group: "edge"},
		{Key: "loans", Name: "Loans", Description: "Applications and disbursement.", Group: "lending"},
		{Key: "portal", Name: "Portal"},
		{Key: "scoring", Name: "Scoring", Group: "lending"},
	}
	if diff := cmp.Diff(wantComps, p.Components); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}

	// Without groups: the plan has none and no component names one.
	p, err = config.ParsePlan([]byte(base), "base.yaml")
	if err != nil {
		t.Fatalf("ParsePlan(base): %v", err)
	}
	if len(p.Groups) != 0 || p.Components[0].Group != "" {
		t.Errorf("a plan without groups has groups %+v, component group %q", p.Groups, p.Components[0].Group)
	}

	// A component naming a group that is not listed: the message says
	// which component and on which line (line 26: the group: of "scoring").
	bad := strings.Replace(grouped, "    name: Scoring\n    group: lending\n", "    name: Scoring\n    group: nope\n", 1)
	if bad == grouped {
		t.Fatal("could not break the grouped plan")
	}
	_, err = config.ParsePlan([]byte(bad), "groups.yaml")
	if !errors.Is(err, herald.ErrInvalid) {
		t.Fatalf("ParsePlan with group: nope = %v; want ErrInvalid", err)
	}
	for _, w := range []string{"config groups.yaml: ", "line 26: components[3].group", `"nope" is not a key listed under groups`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message %q does not contain %q", err, w)
		}
	}
}
