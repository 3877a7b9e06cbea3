package herald

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// validPlan is the smallest plan that passes Validate.
func validPlan() Plan {
	stage := func(name string, from, to time.Duration) Stage {
		return Stage{Name: name, WindowStart: from, WindowEnd: to}
	}
	return Plan{
		Page:       Page{ID: "kredete", Name: "Kredete", TimeZone: "UTC"},
		Objectives: Objectives{RTO: 4 * time.Hour, RPO: time.Hour, Availability: 0.9999},
		Components: []ComponentSpec{{Key: "api-platform", Name: "API Platform"}, {Key: "customer-portal", Name: "Customer Portal"}},
		Audiences: []Audience{
			{Key: "engineering", Name: "Engineering", Channels: []Channel{ChannelSlack}, Cadence: Cadence{Kind: RealTime}},
			{Key: "executives", Name: "Executives", Channels: []Channel{ChannelEmail, ChannelSMS}, Cadence: Cadence{Kind: Every, Interval: 30 * time.Minute}},
			{Key: "regulators", Name: "Regulators", Channels: []Channel{ChannelPhone}, Cadence: Cadence{Kind: Deadline, Interval: 4 * time.Hour}, Conditional: true},
		},
		Failover: Failover{
			Regions: []RegionFailover{{Key: "primary-region", Name: "Primary", From: "af-south-1", To: "eu-west-1",
				Stages: []Stage{stage("Detection", 0, 2*time.Minute), stage("Redirect", 2*time.Minute, 5*time.Minute)}}},
			Components: []ComponentFailover{{Key: "single-az", Name: "Single AZ", Response: "Redistribute"}},
			Runbooks:   []Runbook{{Key: "database-failover", Name: "Database failover", Stages: []Stage{stage("Verify", 0, 0)}}},
		},
	}
}

// withGroup puts the first component of validPlan in a group "lending".
func withGroup(p *Plan) {
	p.Groups = []GroupSpec{{Key: "lending", Name: "Lending", Description: "Everything a borrower touches."}}
	p.Components[0].Group = "lending"
}

func TestPlanValidate(t *testing.T) {
	if err := validPlan().Validate(); err != nil {
		t.Fatalf("valid plan: %v", err)
	}
	grouped := validPlan()
	withGroup(&grouped)
	grouped.Components[1].Group = "lending"
	if err := grouped.Validate(); err != nil {
		t.Fatalf("valid plan with a group: %v", err)
	}
	tests := []struct {
		name   string
		edit   func(p *Plan)
		field  string
		phrase string
	}{
		{"page name", func(p *Plan) { p.Page.Name = "" }, "page.name", "must not be empty"},
		{"page id", func(p *Plan) { p.Page.ID = "Kredete Page" }, "page.id", "lower-case"},
		{"time zone", func(p *Plan) { p.Page.TimeZone = "" }, "page.time_zone", "IANA"},
		{"rto", func(p *Plan) { p.Objectives.RTO = 0 }, "objectives.rto", "positive duration"},
		{"rpo", func(p *Plan) { p.Objectives.RPO = -time.Hour }, "objectives.rpo", "positive duration"},
		{"availability zero", func(p *Plan) { p.Objectives.Availability = 0 }, "objectives.availability", "between 0 and 1"},
		{"availability one", func(p *Plan) { p.Objectives.Availability = 1 }, "objectives.availability", "between 0 and 1"},
		{"availability percentage", func(p *Plan) { p.Objectives.Availability = 99.99 }, "objectives.availability", "between 0 and 1"},
		{"no components", func(p *Plan) { p.Components = nil }, "components", "at least one"},
		{"component key", func(p *Plan) { p.Components[1].Key = "Customer Portal" }, "components[1].key", `"Customer Portal" must be lower-case`},
		{"component empty key", func(p *Plan) { p.Components[0].Key = "" }, "components[0].key", "must be lower-case"},
		{"component duplicate key", func(p *Plan) { p.Components[1].Key = "api-platform" }, "components[1].key", `"api-platform" is used twice`},
		{"component name", func(p *Plan) { p.Components[1].Name = "" }, "components[1].name", "must not be empty"},
		{"component in an unknown group", func(p *Plan) { p.Components[1].Group = "nope" }, "components[1].group",
			`"nope" is not a key listed under groups`},
		{"group without components", func(p *Plan) { p.Groups = []GroupSpec{{Key: "lending", Name: "Lending"}} }, "groups[0]",
			`group "lending" has no components`},
		{"group key", func(p *Plan) {
			p.Groups = []GroupSpec{{Key: "Lending Group", Name: "Lending"}}
			p.Components[0].Group = "Lending Group"
		}, "groups[0].key", `"Lending Group" must be lower-case`},
		{"group duplicate key", func(p *Plan) {
			withGroup(p)
			p.Groups = append(p.Groups, GroupSpec{Key: "lending", Name: "Lending again"})
		}, "groups[1].key", `"lending" is used twice`},
		{"group key taken by a component", func(p *Plan) {
			p.Groups = []GroupSpec{{Key: "customer-portal", Name: "Portal"}}
			p.Components[0].Group = "customer-portal"
		}, "components[1].key", `"customer-portal" is used twice`},
		{"group name", func(p *Plan) { withGroup(p); p.Groups[0].Name = "" }, "groups[0].name", "must not be empty"},
		{"audience key", func(p *Plan) { p.Audiences[2].Key = "engineering" }, "audiences[2].key", "used twice"},
		{"audience name", func(p *Plan) { p.Audiences[0].Name = "" }, "audiences[0].name", "must not be empty"},
		{"audience channels", func(p *Plan) { p.Audiences[0].Channels = nil }, "audiences[0].channels", "at least one channel"},
		{"audience unknown channel", func(p *Plan) { p.Audiences[1].Channels[1] = "pigeon" }, "audiences[1].channels[1]",
			`"pigeon" is not one of slack, email, sms, status_page, phone`},
		{"cadence missing", func(p *Plan) { p.Audiences[0].Cadence = Cadence{} }, "audiences[0].cadence", "real_time, every <duration>, within <duration>"},
		{"cadence unknown", func(p *Plan) { p.Audiences[0].Cadence = Cadence{Kind: "hourly"} }, "audiences[0].cadence", `"hourly" is not one of`},
		{"cadence every without interval", func(p *Plan) { p.Audiences[1].Cadence.Interval = 0 }, "audiences[1].cadence", "positive interval"},
		{"cadence deadline without interval", func(p *Plan) { p.Audiences[2].Cadence.Interval = -time.Hour }, "audiences[2].cadence", "positive interval"},
		{"region key", func(p *Plan) { p.Failover.Regions[0].Key = "" }, "failover.regions[0].key", "lower-case"},
		{"region to", func(p *Plan) { p.Failover.Regions[0].To = "" }, "failover.regions[0]", "both from and to"},
		{"region stages", func(p *Plan) { p.Failover.Regions[0].Stages = nil }, "failover.regions[0].stages", "at least one stage"},
		{"stage name", func(p *Plan) { p.Failover.Regions[0].Stages[1].Name = "" }, "failover.regions[0].stages[1].name", "must not be empty"},
		{"stage window", func(p *Plan) { p.Failover.Regions[0].Stages[1].WindowEnd = time.Minute }, "failover.regions[0].stages[1].window", "ends before it starts"},
		{"component failover response", func(p *Plan) { p.Failover.Components[0].Response = "" }, "failover.components[0].response", "must not be empty"},
		{"failover keys are shared", func(p *Plan) { p.Failover.Components[0].Key = "primary-region" }, "failover.components[0].key", "used twice"},
		{"runbook key", func(p *Plan) { p.Failover.Runbooks[0].Key = "single-az" }, "failover.runbooks[0].key", "used twice"},
		{"runbook name", func(p *Plan) { p.Failover.Runbooks[0].Name = "" }, "failover.runbooks[0].name", "must not be empty"},
		{"runbook stages", func(p *Plan) { p.Failover.Runbooks[0].Stages = nil }, "failover.runbooks[0].stages", "at least one stage"},
		{"runbook stage", func(p *Plan) { p.Failover.Runbooks[0].Stages[0].Name = "" }, "failover.runbooks[0].stages[0].name", "must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPlan()
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
	t.Run("every problem at once", func(t *testing.T) {
		p := validPlan()
		p.Page.Name = ""
		p.Components[0].Name = ""
		p.Audiences[0].Channels = nil
		var ves ValidationErrors
		if err := p.Validate(); !errors.As(err, &ves) {
			t.Fatalf("Validate() = %v; want ValidationErrors", err)
		}
		var got []string
		for _, ve := range ves {
			got = append(got, ve.Field)
		}
		if diff := cmp.Diff([]string{"page.name", "components[0].name", "audiences[0].channels"}, got); diff != "" {
			t.Errorf("fields (-want +got):\n%s", diff)
		}
	})
}

func TestCadenceString(t *testing.T) {
	tests := []struct {
		c    Cadence
		want string
	}{
		{Cadence{Kind: RealTime}, "Real-time"},
		{Cadence{Kind: Every, Interval: 30 * time.Minute}, "Every 30 min"},
		{Cadence{Kind: Every, Interval: 15 * time.Minute}, "Every 15 min"},
		{Cadence{Kind: Every, Interval: time.Hour}, "Every 1 hour"},
		{Cadence{Kind: Deadline, Interval: 4 * time.Hour}, "Within 4 hours"},
		{Cadence{Kind: Every, Interval: 90 * time.Minute}, "Every 90 min"},
		{Cadence{Kind: Every, Interval: 90 * time.Second}, "Every 1m30s"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%+v.String() = %q; want %q", tt.c, got, tt.want)
		}
	}
}
