package herald

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDeliveryStateFinal(t *testing.T) {
	for _, tt := range []struct {
		s    DeliveryState
		want bool
	}{
		{DeliveryQueued, false},
		{DeliverySending, false},
		{DeliveryRetrying, false},
		{DeliverySent, true},
		{DeliveryFailed, true},
		{DeliverySkipped, true},
	} {
		if got := tt.s.Final(); got != tt.want {
			t.Errorf("%s.Final() = %v; want %v", tt.s, got, tt.want)
		}
	}
}

func TestRetryLater(t *testing.T) {
	cause := errors.New("429 too many requests")
	var err error = &RetryLater{After: 30 * time.Second, Err: cause}
	if got, want := err.Error(), "retry in 30s: 429 too many requests"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	if !errors.Is(err, cause) {
		t.Error("RetryLater does not unwrap to its cause")
	}
	var rl *RetryLater
	if !errors.As(errors.Join(errors.New("slack"), err), &rl) || rl.After != 30*time.Second {
		t.Errorf("errors.As found %+v; want the RetryLater of 30s", rl)
	}
}

func TestFanout(t *testing.T) {
	rec := Recipients{SlackChannel: "#incident-response", Emails: []string{"ceo@kredete.example", "cfo@kredete.example"},
		Phones: []string{"+27821234567"}, Contacts: []Contact{{Name: "Compliance", Email: "compliance@kredete.example"}}}
	d := func(ch Channel, kind DeliveryKind, to string) Delivery {
		return Delivery{Audience: "execs", Channel: ch, Kind: kind, Recipient: to, Subject: "API errors", Body: "We are on it.",
			Key: "inc-1/comm-1/" + string(ch) + "/" + to}
	}
	tests := []struct {
		name     string
		channels []Channel
		rec      Recipients
		kind     DeliveryKind
		want     []Delivery
	}{
		{
			name: "slack: a reply in the incident's thread, whatever the kind", channels: []Channel{ChannelSlack}, rec: rec, kind: KindHolding,
			want: []Delivery{d(ChannelSlack, KindReply, "#incident-response")},
		},
		{
			name: "email: one per address", channels: []Channel{ChannelEmail}, rec: rec, kind: KindMessage,
			want: []Delivery{d(ChannelEmail, KindMessage, "ceo@kredete.example"), d(ChannelEmail, KindMessage, "cfo@kredete.example")},
		},
		{
			name: "sms: one per phone", channels: []Channel{ChannelSMS}, rec: rec, kind: KindHolding,
			want: []Delivery{d(ChannelSMS, KindHolding, "+27821234567")},
		},
		{
			name: "status page and phone are not Herald's to deliver", channels: []Channel{ChannelStatusPage, ChannelPhone}, rec: rec, kind: KindMessage,
		},
		{
			name: "in the order of the audience's channels", channels: []Channel{ChannelSMS, ChannelPhone, ChannelEmail, ChannelSlack}, rec: rec, kind: KindMessage,
			want: []Delivery{d(ChannelSMS, KindMessage, "+27821234567"), d(ChannelEmail, KindMessage, "ceo@kredete.example"),
				d(ChannelEmail, KindMessage, "cfo@kredete.example"), d(ChannelSlack, KindReply, "#incident-response")},
		},
		{
			name: "channels without recipients send nothing", channels: []Channel{ChannelSlack, ChannelEmail, ChannelSMS},
			rec: Recipients{Contacts: rec.Contacts}, kind: KindMessage,
		},
		{
			name: "recipients on channels the audience does not use send nothing", channels: []Channel{ChannelEmail},
			rec: Recipients{SlackChannel: "#exec", Phones: []string{"+27821234567"}}, kind: KindMessage,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Audience{Key: "execs", Name: "Executives", Channels: tt.channels, Recipients: tt.rec}
			got := Fanout(a, tt.kind, "inc-1/comm-1", "API errors", "We are on it.")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Fanout (-want +got):\n%s", diff)
			}
			keys := map[string]bool{}
			for _, d := range got {
				if keys[d.Key] {
					t.Errorf("key %q is used twice", d.Key)
				}
				keys[d.Key] = true
			}
		})
	}
	t.Run("keys are stable", func(t *testing.T) {
		a := Audience{Key: "execs", Channels: []Channel{ChannelEmail, ChannelSMS, ChannelSlack}, Recipients: rec}
		one := Fanout(a, KindMessage, "inc-1/comm-1", "s", "b")
		two := Fanout(a, KindMessage, "inc-1/comm-1", "other subject", "other body")
		other := Fanout(a, KindMessage, "inc-1/comm-2", "s", "b")
		for i := range one {
			if one[i].Key != two[i].Key {
				t.Errorf("delivery %d: key %q, then %q", i, one[i].Key, two[i].Key)
			}
			if one[i].Key == other[i].Key {
				t.Errorf("delivery %d: another message has the same key %q", i, one[i].Key)
			}
		}
	})
}

func TestPlanThreadAudience(t *testing.T) {
	slack := func(key string, c CadenceKind, ch string, channels ...Channel) Audience {
		return Audience{Key: key, Channels: channels, Cadence: Cadence{Kind: c, Interval: time.Hour},
			Recipients: Recipients{SlackChannel: ch}}
	}
	tests := []struct {
		name      string
		audiences []Audience
		want      string // key; empty: none
	}{
		{"the real-time slack audience", []Audience{
			slack("execs", Every, "#exec", ChannelSlack, ChannelEmail),
			slack("eng", RealTime, "#incident-response", ChannelEmail, ChannelSlack),
		}, "eng"},
		{"the first of two", []Audience{
			slack("eng", RealTime, "#incident-response", ChannelSlack),
			slack("ops", RealTime, "#ops", ChannelSlack),
		}, "eng"},
		{"real time without a channel", []Audience{slack("eng", RealTime, "", ChannelSlack)}, ""},
		{"a channel but slack not among the channels", []Audience{slack("eng", RealTime, "#incident-response", ChannelEmail)}, ""},
		{"slack on a cadence only", []Audience{slack("execs", Every, "#exec", ChannelSlack)}, ""},
		{"no audiences", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := Plan{Audiences: tt.audiences}.ThreadAudience()
			if ok != (tt.want != "") || a.Key != tt.want {
				t.Errorf("ThreadAudience() = %q, %v; want %q", a.Key, ok, tt.want)
			}
			if !ok && !reflect.ValueOf(a).IsZero() {
				t.Errorf("ThreadAudience() returned %+v with false; want the zero audience", a)
			}
		})
	}
}

// deliveryPlan is validPlan with every delivery field of the audiences set.
func deliveryPlan() Plan {
	p := validPlan()
	critical := Cadence{Kind: Every, Interval: 15 * time.Minute}
	p.Audiences[0].Recipients = Recipients{SlackChannel: "#incident-response"}
	p.Audiences[1].Recipients = Recipients{Emails: []string{"ceo@kredete.example", "cfo+alerts@mail.kredete.example"},
		Phones: []string{"+27821234567", "+14155550100"}}
	p.Audiences[1].ReminderPolicy = ReminderPolicy{Before: []time.Duration{5 * time.Minute, 29 * time.Minute},
		Whom: []IncidentRole{SeatCommander, SeatDeputy}, Channels: []Channel{ChannelSlack, ChannelSMS, ChannelEmail}}
	p.Audiences[1].OnDue = DueHolding
	p.Audiences[1].ByImpact = map[Impact]ImpactOverride{ImpactMinor: {Off: true}, ImpactNone: {Off: true},
		ImpactCritical: {Cadence: &critical}, ImpactMajor: {}}
	p.Audiences[2].Recipients = Recipients{Contacts: []Contact{{Name: "Compliance", Email: "compliance@kredete.example"},
		{Name: "Legal", Phone: "+27821234568"}, {Name: "Both", Email: "b@kredete.example", Phone: "+27821234569"}}}
	p.Audiences[2].ReminderPolicy = ReminderPolicy{Before: []time.Duration{time.Hour, 30 * time.Minute}, Every: 15 * time.Minute,
		Whom: []IncidentRole{SeatCommander}, EscalateAfter: 0, Channels: []Channel{ChannelSlack, ChannelSMS, ChannelEmail}}
	p.Audiences[2].OnDue = DueRemind
	p.Audiences[2].Regulatory = &RegulatoryClock{AfterClassification: 4 * time.Hour, AfterAwareness: 24 * time.Hour,
		Intermediate: 72 * time.Hour, Final: 720 * time.Hour}
	p.Audiences = append(p.Audiences, Audience{Key: "public", Name: "Public", Channels: []Channel{ChannelStatusPage},
		Cadence: Cadence{Kind: Every, Interval: 15 * time.Minute}, OnDue: DueEscalate,
		ReminderPolicy: ReminderPolicy{Before: []time.Duration{5 * time.Minute}, Every: 5 * time.Minute,
			Whom: []IncidentRole{SeatCommander, SeatDeputy, SeatCommsLead, SeatScribe}, EscalateAfter: 5 * time.Minute}})
	return p
}

func TestPlanValidateAudienceDelivery(t *testing.T) {
	if err := deliveryPlan().Validate(); err != nil {
		t.Fatalf("valid plan with delivery settings: %v", err)
	}
	tests := []struct {
		name   string
		edit   func(p *Plan)
		field  string
		phrase string
	}{
		{"slack channel without slack", func(p *Plan) { p.Audiences[1].Recipients.SlackChannel = "#exec" },
			"audiences[1].recipients.slack_channel", "slack is not among the audience's channels"},
		{"email without @", func(p *Plan) { p.Audiences[1].Recipients.Emails[1] = "cfo.kredete.example" },
			"audiences[1].recipients.emails[1]", `"cfo.kredete.example" is not an email address`},
		{"email with a display name", func(p *Plan) { p.Audiences[1].Recipients.Emails[0] = "CEO <ceo@kredete.example>" },
			"audiences[1].recipients.emails[0]", "is not an email address"},
		{"two emails in one", func(p *Plan) { p.Audiences[1].Recipients.Emails[0] = "a@kredete.example,b@kredete.example" },
			"audiences[1].recipients.emails[0]", "is not an email address"},
		{"email without a domain dot", func(p *Plan) { p.Audiences[1].Recipients.Emails[0] = "ceo@localhost" },
			"audiences[1].recipients.emails[0]", "is not an email address"},
		{"phone without +", func(p *Plan) { p.Audiences[1].Recipients.Phones[0] = "0821234567" },
			"audiences[1].recipients.phones[0]", `"0821234567" is not an E.164 number such as +27821234567`},
		{"phone with spaces", func(p *Plan) { p.Audiences[1].Recipients.Phones[1] = "+27 82 123 4567" },
			"audiences[1].recipients.phones[1]", "E.164"},
		{"phone with a leading zero", func(p *Plan) { p.Audiences[1].Recipients.Phones[0] = "+0821234567" },
			"audiences[1].recipients.phones[0]", "E.164"},
		{"phone too long", func(p *Plan) { p.Audiences[1].Recipients.Phones[0] = "+1234567890123456" },
			"audiences[1].recipients.phones[0]", "E.164"},
		{"phone too short", func(p *Plan) { p.Audiences[1].Recipients.Phones[0] = "+123456" },
			"audiences[1].recipients.phones[0]", "E.164"},
		{"contact without a name", func(p *Plan) { p.Audiences[2].Recipients.Contacts[1].Name = "" },
			"audiences[2].recipients.contacts[1].name", "must not be empty"},
		{"contact without a way to reach them", func(p *Plan) { p.Audiences[2].Recipients.Contacts[0].Email = "" },
			"audiences[2].recipients.contacts[0]", "needs an email or a phone"},
		{"contact email", func(p *Plan) { p.Audiences[2].Recipients.Contacts[2].Email = "compliance" },
			"audiences[2].recipients.contacts[2].email", `"compliance" is not an email address`},
		{"contact phone", func(p *Plan) { p.Audiences[2].Recipients.Contacts[1].Phone = "082 123 4567" },
			"audiences[2].recipients.contacts[1].phone", `"082 123 4567" is not an E.164 number`},
		{"reminder before zero", func(p *Plan) { p.Audiences[1].ReminderPolicy.Before[0] = 0 },
			"audiences[1].reminders.before[0]", "must be a positive duration such as 5m"},
		{"reminder before negative", func(p *Plan) { p.Audiences[1].ReminderPolicy.Before[1] = -time.Minute },
			"audiences[1].reminders.before[1]", "must be a positive duration"},
		{"reminder before as long as the cadence", func(p *Plan) { p.Audiences[1].ReminderPolicy.Before[1] = 30 * time.Minute },
			"audiences[1].reminders.before[1]", "30m0s is not shorter than the cadence (30m0s)"},
		{"reminder before longer than a deadline", func(p *Plan) {
			p.Audiences[2].Regulatory = nil
			p.Audiences[2].ReminderPolicy.Before[0] = 5 * time.Hour
		}, "audiences[2].reminders.before[0]", "5h0m0s is not shorter than the cadence (4h0m0s)"},
		{"reminders every negative", func(p *Plan) { p.Audiences[3].ReminderPolicy.Every = -time.Minute },
			"audiences[3].reminders.every", "must not be negative"},
		{"escalate after negative", func(p *Plan) { p.Audiences[3].ReminderPolicy.EscalateAfter = -time.Minute },
			"audiences[3].reminders.escalate_after", "must not be negative"},
		{"whom not an incident role", func(p *Plan) { p.Audiences[1].ReminderPolicy.Whom[1] = "ceo" },
			"audiences[1].reminders.whom[1]", `"ceo" is not one of commander, deputy, communications_lead, scribe`},
		{"whom a console role", func(p *Plan) { p.Audiences[3].ReminderPolicy.Whom[0] = IncidentRole(RoleAdmin) },
			"audiences[3].reminders.whom[0]", `"admin" is not one of`},
		{"reminders by phone", func(p *Plan) { p.Audiences[1].ReminderPolicy.Channels[1] = ChannelPhone },
			"audiences[1].reminders.channels[1]", `"phone" cannot carry reminders: use slack, sms or email`},
		{"reminders on the status page", func(p *Plan) { p.Audiences[3].ReminderPolicy.Channels = []Channel{ChannelStatusPage} },
			"audiences[3].reminders.channels[0]", `"status_page" cannot carry reminders`},
		{"reminders by pigeon", func(p *Plan) { p.Audiences[2].ReminderPolicy.Channels[2] = "pigeon" },
			"audiences[2].reminders.channels[2]", `"pigeon" cannot carry reminders`},
		{"on_due unknown", func(p *Plan) { p.Audiences[1].OnDue = "panic" },
			"audiences[1].on_due", `"panic" is not one of holding_update, escalate, remind`},
		{"holding update on the status page", func(p *Plan) { p.Audiences[3].OnDue = DueHolding },
			"audiences[3].on_due", "the public page never gets automatic text: use escalate or remind"},
		{"holding update on the status page among others", func(p *Plan) {
			p.Audiences[1].Channels = append(p.Audiences[1].Channels, ChannelStatusPage)
		}, "audiences[1].on_due", "the public page never gets automatic text"},
		{"holding update with nothing to send it by", func(p *Plan) { p.Audiences[2].OnDue = DueHolding },
			"audiences[2].on_due", "holding_update needs an email, sms or slack channel"},
		{"by_impact unknown impact", func(p *Plan) { p.Audiences[1].ByImpact["severe"] = ImpactOverride{Off: true} },
			"audiences[1].by_impact.severe", `"severe" is not one of none, minor, major, critical`},
		{"by_impact off and a cadence", func(p *Plan) {
			c := Cadence{Kind: Every, Interval: time.Hour}
			p.Audiences[1].ByImpact[ImpactMajor] = ImpactOverride{Off: true, Cadence: &c}
		}, "audiences[1].by_impact.major", "is both off and given a cadence; pick one"},
		{"by_impact cadence without an interval", func(p *Plan) {
			p.Audiences[1].ByImpact[ImpactCritical] = ImpactOverride{Cadence: &Cadence{Kind: Deadline}}
		}, "audiences[1].by_impact.critical.cadence", "needs a positive interval"},
		{"regulatory without classification limit", func(p *Plan) { p.Audiences[2].Regulatory.AfterClassification = 0 },
			"audiences[2].regulatory.initial_after_classification", "must be a positive duration such as 4h"},
		{"regulatory awareness negative", func(p *Plan) { p.Audiences[2].Regulatory.AfterAwareness = -time.Hour },
			"audiences[2].regulatory.initial_after_awareness", "must not be negative"},
		{"regulatory without intermediate", func(p *Plan) { p.Audiences[2].Regulatory.Intermediate = 0 },
			"audiences[2].regulatory.intermediate_after_initial", "must be a positive duration such as 72h"},
		{"regulatory final negative", func(p *Plan) { p.Audiences[2].Regulatory.Final = -time.Hour },
			"audiences[2].regulatory.final_after_intermediate", "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := deliveryPlan()
			tt.edit(&p)
			err := p.Validate()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v; want ErrInvalid", err)
			}
			var ves ValidationErrors
			if !errors.As(err, &ves) {
				t.Fatalf("error %T is not ValidationErrors", err)
			}
			problem, ok := ves.Fields()[tt.field]
			if !ok {
				t.Fatalf("no problem reported for %q; got %v", tt.field, err)
			}
			if !strings.Contains(problem, tt.phrase) {
				t.Errorf("%s: %q does not say %q", tt.field, problem, tt.phrase)
			}
			if len(ves) != 1 {
				t.Errorf("%d problems reported; want only %s: %v", len(ves), tt.field, err)
			}
		})
	}

	t.Run("allowed", func(t *testing.T) {
		for name, edit := range map[string]func(p *Plan){
			"zero awareness and final: no such limits": func(p *Plan) {
				p.Audiences[2].Regulatory.AfterAwareness, p.Audiences[2].Regulatory.Final = 0, 0
			},
			"before longer than the deadline of a regulatory clock": func(p *Plan) {
				p.Audiences[2].ReminderPolicy.Before = []time.Duration{48 * time.Hour}
			},
			"before on a real-time audience": func(p *Plan) {
				p.Audiences[0].ReminderPolicy.Before = []time.Duration{48 * time.Hour}
			},
			"holding update by slack": func(p *Plan) { p.Audiences[0].OnDue = DueHolding },
			"no on_due":               func(p *Plan) { p.Audiences[3].OnDue = "" },
			"escalate and remind":     func(p *Plan) { p.Audiences[1].OnDue, p.Audiences[3].OnDue = DueEscalate, DueRemind },
			"by_impact real time": func(p *Plan) {
				p.Audiences[1].ByImpact[ImpactMajor] = ImpactOverride{Cadence: &Cadence{Kind: RealTime}}
			},
			"no recipients at all": func(p *Plan) {
				for i := range p.Audiences {
					p.Audiences[i].Recipients = Recipients{}
				}
			},
		} {
			p := deliveryPlan()
			edit(&p)
			if err := p.Validate(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})

	t.Run("every by_impact problem, in a stable order", func(t *testing.T) {
		var first string
		for i := range 20 {
			p := deliveryPlan()
			p.Audiences[1].ByImpact = map[Impact]ImpactOverride{"severe": {Off: true}, "awful": {Off: true},
				ImpactCritical: {Cadence: &Cadence{Kind: Every}}, ImpactMinor: {Off: true, Cadence: &Cadence{Kind: RealTime}}}
			err := p.Validate()
			var ves ValidationErrors
			if !errors.As(err, &ves) || len(ves) != 4 {
				t.Fatalf("Validate() = %v; want four problems", err)
			}
			if i == 0 {
				first = err.Error()
			} else if err.Error() != first {
				t.Fatalf("the problems changed order between runs:\n%s\n%s", first, err)
			}
		}
	})
}
