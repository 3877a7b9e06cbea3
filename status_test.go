package herald

import (
	"errors"
	"strings"
	"testing"
)

func TestParseComponentStatus(t *testing.T) {
	for _, s := range ComponentStatuses {
		t.Run(string(s), func(t *testing.T) {
			got, err := ParseComponentStatus(string(s))
			if err != nil || got != s {
				t.Fatalf("ParseComponentStatus(%q) = %q, %v; want %q, nil", s, got, err, s)
			}
		})
	}
	for _, bad := range []string{"", "Operational", "down", "major outage", " operational"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			_, err := ParseComponentStatus(bad)
			checkRefusal(t, err, bad, "component status", ComponentStatuses)
		})
	}
}

func TestParseImpact(t *testing.T) {
	for _, s := range Impacts {
		t.Run(string(s), func(t *testing.T) {
			got, err := ParseImpact(string(s))
			if err != nil || got != s {
				t.Fatalf("ParseImpact(%q) = %q, %v; want %q, nil", s, got, err, s)
			}
		})
	}
	for _, bad := range []string{"", "high", "Critical", "sev1"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			_, err := ParseImpact(bad)
			checkRefusal(t, err, bad, "impact", Impacts)
		})
	}
}

func TestParseStatus(t *testing.T) {
	for _, k := range []Kind{KindIncident, KindMaintenance} {
		for _, s := range k.Statuses() {
			t.Run(string(k)+"/"+string(s), func(t *testing.T) {
				got, err := ParseStatus(k, string(s))
				if err != nil || got != s {
					t.Fatalf("ParseStatus(%s, %q) = %q, %v; want %q, nil", k, s, got, err, s)
				}
			})
		}
	}
	tests := []struct {
		kind Kind
		in   string
	}{
		{KindIncident, ""},
		{KindIncident, "scheduled"},   // a maintenance status
		{KindIncident, "completed"},   // a maintenance status
		{KindIncident, "Resolved"},    // case matters
		{KindMaintenance, "resolved"}, // an incident status
		{KindMaintenance, "postmortem"},
		{KindMaintenance, "done"},
	}
	for _, tt := range tests {
		t.Run("refuses "+string(tt.kind)+"/"+tt.in, func(t *testing.T) {
			_, err := ParseStatus(tt.kind, tt.in)
			checkRefusal(t, err, tt.in, string(tt.kind)+" status", tt.kind.Statuses())
		})
	}
}

// checkRefusal asserts err is a ValidationError naming the field, the bad
// value and every allowed value.
func checkRefusal[T ~string](t *testing.T, err error, bad, field string, allowed []T) {
	t.Helper()
	if err == nil {
		t.Fatalf("%q accepted; want an error", bad)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v does not match ErrInvalid", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %T is not a *ValidationError", err)
	}
	if ve.Field != field {
		t.Errorf("Field = %q; want %q", ve.Field, field)
	}
	msg := err.Error()
	if !strings.Contains(msg, `"`+bad+`"`) {
		t.Errorf("message %q does not quote the bad value %q", msg, bad)
	}
	for _, a := range allowed {
		if !strings.Contains(msg, string(a)) {
			t.Errorf("message %q does not name allowed value %q", msg, a)
		}
	}
}

func TestStatusClosed(t *testing.T) {
	closed := map[Status]bool{Resolved: true, Postmortem: true, Completed: true}
	for _, s := range append(append([]Status{}, IncidentStatuses...), MaintenanceStatuses...) {
		if got := s.Closed(); got != closed[s] {
			t.Errorf("%s.Closed() = %v; want %v", s, got, closed[s])
		}
	}
}

func TestLabels(t *testing.T) {
	tests := []struct{ got, want string }{
		{Operational.Label(), "Operational"},
		{DegradedPerformance.Label(), "Degraded performance"},
		{PartialOutage.Label(), "Partial outage"},
		{MajorOutage.Label(), "Major outage"},
		{UnderMaintenance.Label(), "Under maintenance"},
		{ImpactNone.Label(), "No impact"},
		{ImpactCritical.Label(), "Critical"},
		{Investigating.Label(), "Investigating"},
		{InProgress.Label(), "In progress"},
		{Postmortem.Label(), "Postmortem"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("label %q; want %q", tt.got, tt.want)
		}
	}
}

func TestSeverityOrder(t *testing.T) {
	// Worst-of must rank major > partial > maintenance > degraded > operational.
	order := []ComponentStatus{Operational, DegradedPerformance, UnderMaintenance, PartialOutage, MajorOutage}
	for i := 1; i < len(order); i++ {
		if order[i].Severity() <= order[i-1].Severity() {
			t.Errorf("%s.Severity() = %d is not above %s.Severity() = %d",
				order[i], order[i].Severity(), order[i-1], order[i-1].Severity())
		}
	}
	for i := 1; i < len(Impacts); i++ {
		if Impacts[i].Rank() <= Impacts[i-1].Rank() {
			t.Errorf("%s.Rank() is not above %s.Rank()", Impacts[i], Impacts[i-1])
		}
	}
}

func TestOverall(t *testing.T) {
	comp := func(s ComponentStatus) Component { return Component{ID: "c-" + string(s), Status: s} }
	incident := func(s Status, i Impact) Incident { return Incident{Kind: KindIncident, Status: s, Impact: i} }
	maintenance := func(s Status) Incident { return Incident{Kind: KindMaintenance, Status: s, Impact: ImpactNone} }
	ok := comp(Operational)

	var (
		none     = PageStatus{"none", "All Systems Operational"}
		minor    = PageStatus{"minor", "Minor Service Outage"}
		major    = PageStatus{"major", "Partial System Outage"}
		critical = PageStatus{"critical", "Major System Outage"}
		maint    = PageStatus{"maintenance", "Service Under Maintenance"}
	)
	tests := []struct {
		name   string
		comps  []Component
		active []Incident
		want   PageStatus
	}{
		{"nothing at all", nil, nil, none},
		{"all operational", []Component{ok, ok}, nil, none},
		{"degraded component", []Component{ok, comp(DegradedPerformance)}, nil, minor},
		{"partial outage component", []Component{comp(DegradedPerformance), comp(PartialOutage)}, nil, major},
		{"major outage component", []Component{comp(PartialOutage), comp(MajorOutage), ok}, nil, critical},
		{"component under maintenance", []Component{ok, comp(UnderMaintenance)}, nil, maint},
		{"maintenance in progress", []Component{ok}, []Incident{maintenance(InProgress)}, maint},
		{"maintenance verifying", []Component{ok}, []Incident{maintenance(Verifying)}, maint},
		{"maintenance only scheduled", []Component{ok}, []Incident{maintenance(Scheduled)}, none},
		{"maintenance completed", []Component{ok}, []Incident{maintenance(Completed)}, none},
		{"outage beats maintenance", []Component{comp(UnderMaintenance), comp(DegradedPerformance)}, []Incident{maintenance(InProgress)}, minor},
		{"open minor incident", []Component{ok}, []Incident{incident(Investigating, ImpactMinor)}, minor},
		{"open major incident", []Component{ok}, []Incident{incident(Identified, ImpactMajor)}, major},
		{"open critical incident", []Component{ok}, []Incident{incident(Monitoring, ImpactCritical)}, critical},
		{"open incident without impact", []Component{ok}, []Incident{incident(Investigating, ImpactNone)}, none},
		{"resolved incident ignored", []Component{ok}, []Incident{incident(Resolved, ImpactCritical)}, none},
		{"postmortem ignored", []Component{ok}, []Incident{incident(Postmortem, ImpactCritical)}, none},
		{"worse of component and incident", []Component{comp(MajorOutage)}, []Incident{incident(Investigating, ImpactMinor)}, critical},
		{"incident worse than components", []Component{comp(DegradedPerformance)}, []Incident{incident(Investigating, ImpactMajor)}, major},
		{"incident impact beats maintenance", []Component{ok}, []Incident{maintenance(InProgress), incident(Investigating, ImpactMinor)}, minor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Overall(tt.comps, tt.active); got != tt.want {
				t.Errorf("Overall() = %+v; want %+v", got, tt.want)
			}
		})
	}
}
