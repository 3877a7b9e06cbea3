package herald

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// PagerDutyPolicy is how Herald and PagerDuty work together: which
// PagerDuty services map to which components, what priority means for
// impact, when Herald pages PagerDuty and whether PagerDuty's resolution
// resolves Herald's incident.
type PagerDutyPolicy struct {
	Services []PagerDutyService
	// DefaultComponents take an incident from a service not listed; the
	// incident is flagged for triage.
	DefaultComponents []string
	// Impacts maps PagerDuty's priority (P1…P5) and urgency (high, low) to
	// an impact; priority wins when both are known.
	Impacts map[string]Impact
	// TriggerAt: declaring (or raising) an incident to this impact or
	// higher triggers a PagerDuty event; empty: Herald never pages.
	TriggerAt Impact
	// AutoResolve resolves Herald's incident when PagerDuty's resolves;
	// off by default: PagerDuty's resolution only asks the commander.
	AutoResolve bool
}

// PagerDutyService maps one PagerDuty service to Herald.
type PagerDutyService struct {
	ID         string // PagerDuty's service id, e.g. PABC123
	Name       string
	Components []string // component keys
	Impact     Impact   // overrides the priority mapping when set
	// Starts lists failover procedures a trigger on this service starts,
	// as "kind:key" (e.g. region:primary-region): the region health check
	// starts the region failover.
	Starts []string
}

// DefaultPagerDutyImpacts is the priority and urgency mapping when the plan
// gives none.
var DefaultPagerDutyImpacts = map[string]Impact{
	"P1": ImpactCritical, "P2": ImpactMajor, "P3": ImpactMinor, "P4": ImpactMinor, "P5": ImpactMinor,
	"high": ImpactMajor, "low": ImpactMinor,
}

// Service finds a mapped service by PagerDuty's id.
func (p PagerDutyPolicy) Service(id string) (PagerDutyService, bool) {
	for _, s := range p.Services {
		if s.ID == id {
			return s, true
		}
	}
	return PagerDutyService{}, false
}

// ImpactFor is the impact of a PagerDuty incident on a service: the
// service's own impact, else its priority's, else its urgency's, else minor.
func (p PagerDutyPolicy) ImpactFor(svc PagerDutyService, priority, urgency string) Impact {
	if svc.Impact != "" {
		return svc.Impact
	}
	m := p.Impacts
	if len(m) == 0 {
		m = DefaultPagerDutyImpacts
	}
	if imp, ok := m[priority]; ok && priority != "" {
		return imp
	}
	if imp, ok := m[strings.ToLower(urgency)]; ok && urgency != "" {
		return imp
	}
	return ImpactMinor
}

// Pages reports whether an incident at this impact pages PagerDuty.
func (p PagerDutyPolicy) Pages(in Incident) bool {
	return p.TriggerAt != "" && in.Kind == KindIncident && !in.Drill && in.Impact.Rank() >= p.TriggerAt.Rank()
}

// ComponentStatusFor is the status a component of a new incident gets from
// the incident's impact.
func ComponentStatusFor(imp Impact) ComponentStatus {
	switch imp {
	case ImpactCritical:
		return MajorOutage
	case ImpactMajor:
		return PartialOutage
	}
	return DegradedPerformance
}

// PagerDutyEvent is one PagerDuty webhook (v3) event as Herald reads it.
type PagerDutyEvent struct {
	ID          string // the webhook event's id: a redelivery has the same
	Type        string // incident.triggered, incident.acknowledged, ...
	OccurredAt  time.Time
	IncidentID  string // PagerDuty's incident id
	IncidentKey string // the dedup key; Herald's incident id for incidents Herald paged
	Number      int
	ServiceID   string
	ServiceName string
	Title       string
	HTMLURL     string
	Priority    string
	Urgency     string
	Status      string
	Agent       string
	Assignees   []string
	Note        string
	Raw         []byte // the payload as received, kept for the record
}

// The PagerDuty event types Herald acts on.
const (
	PDTriggered       = "incident.triggered"
	PDAcknowledged    = "incident.acknowledged"
	PDUnacknowledged  = "incident.unacknowledged"
	PDReassigned      = "incident.reassigned"
	PDAnnotated       = "incident.annotated"
	PDEscalated       = "incident.escalated"
	PDPriorityUpdated = "incident.priority_updated"
	PDResolved        = "incident.resolved"
	PDReopened        = "incident.reopened"
)

// PagerDutyTimeline is the timeline line for an event on a linked
// incident; empty for a type Herald does not record.
func PagerDutyTimeline(ev PagerDutyEvent) string {
	who := ""
	if ev.Agent != "" {
		who = " by " + ev.Agent
	}
	ref := "PagerDuty incident"
	if ev.Number > 0 {
		ref = fmt.Sprintf("PagerDuty #%d", ev.Number)
	}
	switch ev.Type {
	case PDTriggered:
		return fmt.Sprintf("%s triggered on %s: %s", ref, orDash(ev.ServiceName), ev.Title)
	case PDAcknowledged:
		return ref + " acknowledged" + who
	case PDUnacknowledged:
		return ref + " unacknowledged (the acknowledgement timed out)"
	case PDReassigned:
		return fmt.Sprintf("%s reassigned to %s%s", ref, orDash(strings.Join(ev.Assignees, ", ")), who)
	case PDAnnotated:
		return fmt.Sprintf("%s note%s: %s", ref, who, ev.Note)
	case PDEscalated:
		return fmt.Sprintf("%s escalated to %s", ref, orDash(strings.Join(ev.Assignees, ", ")))
	case PDPriorityUpdated:
		return fmt.Sprintf("%s priority set to %s%s", ref, orDash(ev.Priority), who)
	case PDResolved:
		return ref + " resolved" + who
	case PDReopened:
		return ref + " reopened" + who
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// PagerDutyLink ties a PagerDuty incident to a Herald incident.
type PagerDutyLink struct {
	IncidentID   string
	PDIncidentID string
	ServiceID    string
	ServiceName  string
	HTMLURL      string
	Direction    string // in: PagerDuty opened or joined it; out: Herald paged
	Status       string // PagerDuty's last known status
	CreatedAt    time.Time
}

// ParseProcedureRef reads "kind:key" as used in rules.
func ParseProcedureRef(ref string) (ProcedureKind, string, bool) {
	kind, key, ok := strings.Cut(ref, ":")
	switch ProcedureKind(kind) {
	case ProcedureRegion, ProcedureRunbook, ProcedureComponent:
		return ProcedureKind(kind), key, ok && key != ""
	}
	return "", "", false
}

func checkPagerDuty(errs *ValidationErrors, p Plan) {
	pd := p.PagerDuty
	comps := map[string]bool{}
	for _, c := range p.Components {
		comps[c.Key] = true
	}
	seen := map[string]bool{}
	for i, s := range pd.Services {
		f := fmt.Sprintf("pagerduty.services[%d]", i)
		switch {
		case s.ID == "":
			errs.Add(f+".id", "must not be empty (PagerDuty's service id, e.g. PABC123)")
		case seen[s.ID]:
			errs.Add(f+".id", fmt.Sprintf("%q is listed twice", s.ID))
		}
		seen[s.ID] = true
		if len(s.Components) == 0 {
			errs.Add(f+".components", "must list at least one component key")
		}
		for j, c := range s.Components {
			if !comps[c] {
				errs.Add(fmt.Sprintf("%s.components[%d]", f, j), fmt.Sprintf("%q is not a component key", c))
			}
		}
		if s.Impact != "" {
			if _, err := ParseImpact(string(s.Impact)); err != nil {
				errs.Add(f+".impact", err.(*ValidationError).Problem)
			}
		}
		for j, ref := range s.Starts {
			kind, key, ok := ParseProcedureRef(ref)
			if !ok {
				errs.Add(fmt.Sprintf("%s.starts[%d]", f, j), fmt.Sprintf("%q is not kind:key (region:, runbook: or component:)", ref))
				continue
			}
			if _, found := p.Procedure(kind, key); !found {
				errs.Add(fmt.Sprintf("%s.starts[%d]", f, j), fmt.Sprintf("%q is not in the failover catalogue", ref))
			}
		}
	}
	for j, c := range pd.DefaultComponents {
		if !comps[c] {
			errs.Add(fmt.Sprintf("pagerduty.default_components[%d]", j), fmt.Sprintf("%q is not a component key", c))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(pd.Impacts)) {
		if _, err := ParseImpact(string(pd.Impacts[k])); err != nil {
			errs.Add("pagerduty.impacts."+k, err.(*ValidationError).Problem)
		}
	}
	if pd.TriggerAt != "" {
		if _, err := ParseImpact(string(pd.TriggerAt)); err != nil {
			errs.Add("pagerduty.trigger_at", err.(*ValidationError).Problem)
		}
	}
}
