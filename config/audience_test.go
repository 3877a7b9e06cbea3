package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/config"
)

// audiencePlan sets every delivery field of the communication plan. Line
// numbers matter: the tests expect them in the messages.
const audiencePlan = `page:
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
    recipients:
      slack_channel: "#incidents"
  - key: execs
    name: Executives
    channels: [email, sms]
    cadence: every 30m
    recipients:
      emails: [ceo@example.com, cfo@example.com]
      phones: ["+27821234567", +14155550100]
    reminders:
      before: [10m, 5m]
      whom: [commander, deputy]
      channels: [slack, sms]
    on_due: holding_update
    by_impact:
      none: off
      minor: "off"
      major: every 20m
      critical: real_time
  - key: public
    name: Public
    channels: [status_page]
    cadence: every 15m
    reminders:
      before: [5m]
      every: 5m
      whom: [commander, deputy, communications_lead]
      escalate_after: 10m
      channels: [slack]
    on_due: escalate
  - key: regulators
    name: Regulators
    channels: [phone]
    cadence: within 4h
    conditional: true
    recipients:
      contacts:
        - name: Compliance
          email: compliance@example.com
          phone: "+27821234568"
        - name: Legal
          phone: "+27821234569"
    reminders:
      before: [1h, 30m]
      every: 15m
      whom: [commander]
      channels: [slack, sms, email]
    on_due: remind
    regulatory:
      initial_after_classification: 4h
      initial_after_awareness: 24h
      intermediate_after_initial: 72h
      final_after_intermediate: 720h
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

func TestParsePlanAudienceDelivery(t *testing.T) {
	p, err := config.ParsePlan([]byte(audiencePlan), "audiences.yaml")
	if err != nil {
		t.Fatalf("ParsePlan: %v", err)
	}
	major, critical := herald.Cadence{Kind: herald.Every, Interval: 20 * time.Minute}, herald.Cadence{Kind: herald.RealTime}
	want := []herald.Audience{
		{Key: "eng", Name: "Engineering", Channels: []herald.Channel{herald.ChannelSlack}, Cadence: herald.Cadence{Kind: herald.RealTime},
			Recipients: herald.Recipients{SlackChannel: "#incidents"}},
		{Key: "execs", Name: "Executives", Channels: []herald.Channel{herald.ChannelEmail, herald.ChannelSMS},
			Cadence: herald.Cadence{Kind: herald.Every, Interval: 30 * time.Minute},
			Recipients: herald.Recipients{Emails: []string{"ceo@example.com", "cfo@example.com"},
				Phones: []string{"+27821234567", "+14155550100"}},
			ReminderPolicy: herald.ReminderPolicy{Before: []time.Duration{10 * time.Minute, 5 * time.Minute},
				Whom:     []herald.IncidentRole{herald.SeatCommander, herald.SeatDeputy},
				Channels: []herald.Channel{herald.ChannelSlack, herald.ChannelSMS}},
			OnDue: herald.DueHolding,
			ByImpact: map[herald.Impact]herald.ImpactOverride{herald.ImpactNone: {Off: true}, herald.ImpactMinor: {Off: true},
				herald.ImpactMajor: {Cadence: &major}, herald.ImpactCritical: {Cadence: &critical}}},
		{Key: "public", Name: "Public", Channels: []herald.Channel{herald.ChannelStatusPage},
			Cadence: herald.Cadence{Kind: herald.Every, Interval: 15 * time.Minute},
			ReminderPolicy: herald.ReminderPolicy{Before: []time.Duration{5 * time.Minute}, Every: 5 * time.Minute,
				Whom:          []herald.IncidentRole{herald.SeatCommander, herald.SeatDeputy, herald.SeatCommsLead},
				EscalateAfter: 10 * time.Minute, Channels: []herald.Channel{herald.ChannelSlack}},
			OnDue: herald.DueEscalate},
		{Key: "regulators", Name: "Regulators", Channels: []herald.Channel{herald.ChannelPhone},
			Cadence: herald.Cadence{Kind: herald.Deadline, Interval: 4 * time.Hour}, Conditional: true,
			Recipients: herald.Recipients{Contacts: []herald.Contact{
				{Name: "Compliance", Email: "compliance@example.com", Phone: "+27821234568"},
				{Name: "Legal", Phone: "+27821234569"}}},
			ReminderPolicy: herald.ReminderPolicy{Before: []time.Duration{time.Hour, 30 * time.Minute}, Every: 15 * time.Minute,
				Whom:     []herald.IncidentRole{herald.SeatCommander},
				Channels: []herald.Channel{herald.ChannelSlack, herald.ChannelSMS, herald.ChannelEmail}},
			OnDue: herald.DueRemind,
			Regulatory: &herald.RegulatoryClock{AfterClassification: 4 * time.Hour, AfterAwareness: 24 * time.Hour,
				Intermediate: 72 * time.Hour, Final: 720 * time.Hour}},
	}
	if diff := cmp.Diff(want, p.Audiences); diff != "" {
		t.Errorf("audiences (-want +got):\n%s", diff)
	}

	t.Run("omitted fields are empty", func(t *testing.T) {
		p, err := config.ParsePlan([]byte(base), "base.yaml")
		if err != nil {
			t.Fatalf("ParsePlan(base): %v", err)
		}
		a := p.Audiences[0]
		if a.Recipients.SlackChannel != "" || a.Recipients.Emails != nil || a.Recipients.Phones != nil || a.Recipients.Contacts != nil ||
			a.ReminderPolicy.Before != nil || a.ReminderPolicy.Every != 0 || a.ReminderPolicy.Whom != nil ||
			a.ReminderPolicy.EscalateAfter != 0 || a.ReminderPolicy.Channels != nil ||
			a.OnDue != "" || a.ByImpact != nil || a.Regulatory != nil {
			t.Errorf("audience without delivery settings = %+v; want them all empty", a)
		}
	})
}

func TestParsePlanByImpact(t *testing.T) {
	const old = "      major: every 20m\n"
	tests := []struct {
		value string
		want  herald.ImpactOverride
	}{
		{"off", herald.ImpactOverride{Off: true}},
		{`"off"`, herald.ImpactOverride{Off: true}},
		{"none", herald.ImpactOverride{Off: true}},
		{"false", herald.ImpactOverride{Off: true}},
		{" off ", herald.ImpactOverride{Off: true}},
		{"every 20m", herald.ImpactOverride{Cadence: &herald.Cadence{Kind: herald.Every, Interval: 20 * time.Minute}}},
		{"within 2h", herald.ImpactOverride{Cadence: &herald.Cadence{Kind: herald.Deadline, Interval: 2 * time.Hour}}},
		{"real_time", herald.ImpactOverride{Cadence: &herald.Cadence{Kind: herald.RealTime}}},
		{"realtime", herald.ImpactOverride{Cadence: &herald.Cadence{Kind: herald.RealTime}}},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			p, err := config.ParsePlan([]byte(strings.Replace(audiencePlan, old, "      major: "+tt.value+"\n", 1)), "audiences.yaml")
			if err != nil {
				t.Fatalf("ParsePlan: %v", err)
			}
			if diff := cmp.Diff(tt.want, p.Audiences[1].ByImpact[herald.ImpactMajor]); diff != "" {
				t.Errorf("by_impact.major (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePlanAudienceDeliveryErrors(t *testing.T) {
	tests := []struct {
		name    string
		old     string // replaced in audiencePlan
		new     string
		want    []string // every one must appear in the message
		invalid bool     // the error matches herald.ErrInvalid
	}{
		// Values the parser refuses.
		{
			name: "bad reminder before",
			old:  "before: [10m, 5m]", new: "before: [10m, 5 minutes]",
			want: []string{"line 26", "audiences[1].reminders.before[1]", `"5 minutes" is not a duration`},
		},
		{
			name: "negative reminder before",
			old:  "before: [10m, 5m]", new: "before: [-10m, 5m]",
			want: []string{"line 26", "audiences[1].reminders.before[0]", `"-10m" is not a duration`},
		},
		{
			name: "bad reminder every",
			old:  "every: 5m", new: "every: often",
			want: []string{"line 41", "audiences[2].reminders.every", `"often" is not a duration`},
		},
		{
			name: "bad escalate_after",
			old:  "escalate_after: 10m", new: "escalate_after: later",
			want: []string{"line 43", "audiences[2].reminders.escalate_after", `"later" is not a duration`},
		},
		{
			name: "by_impact neither off nor a cadence",
			old:  "major: every 20m", new: "major: sometimes",
			want: []string{"line 33", "audiences[1].by_impact.major", `"sometimes" is neither off nor a cadence`},
		},
		{
			name: "by_impact cadence without an interval",
			old:  "major: every 20m", new: "major: every 0m",
			want: []string{"line 33", "audiences[1].by_impact.major", `"every 0m" is neither off nor a cadence`},
		},
		{
			name: "by_impact as a list",
			old:  "major: every 20m", new: "major: [every 20m]",
			want: []string{"line 33", "audiences[1].by_impact.major", "is neither off nor a cadence"},
		},
		{
			name: "by_impact not a mapping",
			old:  "    by_impact:\n      none: off\n      minor: \"off\"\n      major: every 20m\n      critical: real_time\n",
			new:  "    by_impact: minor\n",
			want: []string{"line 30", "audiences[1].by_impact", "`minor` into a mapping"},
		},
		{
			name: "bad regulatory duration",
			old:  "intermediate_after_initial: 72h", new: "intermediate_after_initial: 3 days",
			want: []string{"line 67", "audiences[3].regulatory.intermediate_after_initial", `"3 days" is not a duration`},
		},
		{
			name: "emails not a list",
			old:  "emails: [ceo@example.com, cfo@example.com]", new: "emails: {ceo: ceo@example.com}",
			want: []string{"line 23", "audiences[1].recipients.emails", "!!map into a list"},
		},
		{
			name: "unknown reminders field",
			old:  "      every: 5m\n", new: "      every: 5m\n      repeat: 3\n",
			want: []string{"line 42", "audiences[2].reminders.repeat", `unknown field "repeat"`},
		},
		{
			name: "unknown recipients field",
			old:  "      slack_channel: \"#incidents\"\n", new: "      slack_channel: \"#incidents\"\n      teams_channel: incidents\n",
			want: []string{"line 18", "audiences[0].recipients.teams_channel", `unknown field "teams_channel"`},
		},
		{
			name: "unknown contact field",
			old:  "          phone: \"+27821234569\"\n", new: "          phone: \"+27821234569\"\n          role: legal\n",
			want: []string{"line 58", "audiences[3].recipients.contacts[1].role", `unknown field "role"`},
		},
		{
			name: "unknown regulatory field",
			old:  "      final_after_intermediate: 720h\n", new: "      final_after_intermediate: 720h\n      annual_after_final: 8760h\n",
			want: []string{"line 69", "audiences[3].regulatory.annual_after_final", `unknown field "annual_after_final"`},
		},
		// Values the plan's rules refuse.
		{
			name: "bad email",
			old:  "cfo@example.com]", new: "cfo at example.com]",
			want: []string{"line 23", "audiences[1].recipients.emails[1]", `"cfo at example.com" is not an email address`}, invalid: true,
		},
		{
			name: "phone not E.164",
			old:  `phones: ["+27821234567"`, new: `phones: ["082 123 4567"`,
			want: []string{"line 24", "audiences[1].recipients.phones[0]", `"082 123 4567" is not an E.164 number`}, invalid: true,
		},
		{
			name: "slack channel without slack",
			old:  "    recipients:\n      emails:", new: "    recipients:\n      slack_channel: \"#exec\"\n      emails:",
			want: []string{"line 23", "audiences[1].recipients.slack_channel", "slack is not among the audience's channels"}, invalid: true,
		},
		{
			name: "contact phone",
			old:  `phone: "+27821234569"`, new: `phone: "+27 82 123 4569"`,
			want: []string{"line 57", "audiences[3].recipients.contacts[1].phone", `"+27 82 123 4569" is not an E.164 number`}, invalid: true,
		},
		{
			name: "contact email",
			old:  "email: compliance@example.com", new: "email: compliance",
			want: []string{"line 54", "audiences[3].recipients.contacts[0].email", `"compliance" is not an email address`}, invalid: true,
		},
		{
			name: "contact without a name",
			old:  "        - name: Legal\n          phone:", new: "        - phone:",
			want: []string{"line 56", "audiences[3].recipients.contacts[1].name", "must not be empty"}, invalid: true,
		},
		{
			name: "contact without email or phone",
			old:  "        - name: Legal\n          phone: \"+27821234569\"\n", new: "        - name: Legal\n",
			want: []string{"line 56", "audiences[3].recipients.contacts[1]", "needs an email or a phone"}, invalid: true,
		},
		{
			name: "reminder before as long as the cadence",
			old:  "before: [10m, 5m]", new: "before: [30m, 5m]",
			want: []string{"line 26", "audiences[1].reminders.before[0]", "30m0s is not shorter than the cadence (30m0s)"}, invalid: true,
		},
		{
			name: "reminder before zero",
			old:  "before: [5m]", new: "before: [0s]",
			want: []string{"line 40", "audiences[2].reminders.before[0]", "must be a positive duration"}, invalid: true,
		},
		{
			name: "whom not an incident role",
			old:  "whom: [commander, deputy]", new: "whom: [commander, ceo]",
			want: []string{"line 27", "audiences[1].reminders.whom[1]", `"ceo" is not one of commander, deputy, communications_lead, scribe`}, invalid: true,
		},
		{
			name: "reminders by phone",
			old:  "channels: [slack, sms]", new: "channels: [slack, phone]",
			want: []string{"line 28", "audiences[1].reminders.channels[1]", `"phone" cannot carry reminders`}, invalid: true,
		},
		{
			name: "on_due unknown",
			old:  "on_due: remind", new: "on_due: shout",
			want: []string{"line 63", "audiences[3].on_due", `"shout" is not one of holding_update, escalate, remind`}, invalid: true,
		},
		{
			name: "holding update on the public page",
			old:  "on_due: escalate", new: "on_due: holding_update",
			want: []string{"line 45", "audiences[2].on_due", "the public page never gets automatic text"}, invalid: true,
		},
		{
			name: "holding update with nothing to send it by",
			old:  "on_due: remind", new: "on_due: holding_update",
			want: []string{"line 63", "audiences[3].on_due", "holding_update needs an email, sms or slack channel"}, invalid: true,
		},
		{
			name: "by_impact unknown impact",
			old:  "      none: off\n", new: "      severe: off\n",
			want: []string{"line 31", "audiences[1].by_impact.severe", `"severe" is not one of none, minor, major, critical`}, invalid: true,
		},
		{
			name: "regulatory zero classification limit",
			old:  "initial_after_classification: 4h", new: "initial_after_classification: 0s",
			want: []string{"line 65", "audiences[3].regulatory.initial_after_classification", "must be a positive duration"}, invalid: true,
		},
		{
			name: "regulatory without an intermediate report",
			old:  "      intermediate_after_initial: 72h\n", new: "",
			want: []string{"line 65", "audiences[3].regulatory.intermediate_after_initial", "must be a positive duration"}, invalid: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(audiencePlan, tt.old) {
				t.Fatalf("audiencePlan has no %q", tt.old)
			}
			_, err := config.ParsePlan([]byte(strings.Replace(audiencePlan, tt.old, tt.new, 1)), "audiences.yaml")
			if err == nil {
				t.Fatal("ParsePlan accepted the file; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not contain %q", err, w)
				}
			}
			for _, goType := range []string{"config.", "map[", "[]string", "herald."} {
				if strings.Contains(err.Error(), goType) {
					t.Errorf("message %q shows a Go type (%s)", err, goType)
				}
			}
			if !strings.HasPrefix(err.Error(), "config audiences.yaml: ") {
				t.Errorf("message %q does not start with the file name", err)
			}
			if got := errors.Is(err, herald.ErrInvalid); got != tt.invalid {
				t.Errorf("errors.Is(%v, ErrInvalid) = %v; want %v", err, got, tt.invalid)
			}
		})
	}
}
