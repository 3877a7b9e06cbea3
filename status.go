// Package herald is Herald's domain: components and their status, incidents
// and maintenance with their updates, the communication plan and the failover
// catalogue, uptime, and the rules that tie them together.
//
// It is pure Go: it imports nothing but the standard library and performs no
// I/O, so every rule here can be tested without a database or a network.
package herald

import (
	"fmt"
	"strings"
)

// ComponentStatus is the state of one component, with Statuspage's value set.
type ComponentStatus string

// The component statuses, from best to worst (maintenance is reported apart).
const (
	Operational         ComponentStatus = "operational"
	DegradedPerformance ComponentStatus = "degraded_performance"
	PartialOutage       ComponentStatus = "partial_outage"
	MajorOutage         ComponentStatus = "major_outage"
	UnderMaintenance    ComponentStatus = "under_maintenance"
)

// ComponentStatuses lists every valid component status in display order.
var ComponentStatuses = []ComponentStatus{Operational, DegradedPerformance, PartialOutage, MajorOutage, UnderMaintenance}

// ParseComponentStatus checks s against the allowed component statuses.
func ParseComponentStatus(s string) (ComponentStatus, error) {
	for _, v := range ComponentStatuses {
		if string(v) == s {
			return v, nil
		}
	}
	return "", invalid("component status", s, ComponentStatuses)
}

// Label is the human wording of the status, never shown by colour alone.
func (s ComponentStatus) Label() string {
	switch s {
	case Operational:
		return "Operational"
	case DegradedPerformance:
		return "Degraded performance"
	case PartialOutage:
		return "Partial outage"
	case MajorOutage:
		return "Major outage"
	case UnderMaintenance:
		return "Under maintenance"
	}
	return string(s)
}

// Severity orders statuses for "worst of": higher is worse. Maintenance sits
// between degraded and partial outage: it is planned, but users feel it.
func (s ComponentStatus) Severity() int {
	switch s {
	case Operational:
		return 0
	case DegradedPerformance:
		return 1
	case UnderMaintenance:
		return 2
	case PartialOutage:
		return 3
	case MajorOutage:
		return 4
	}
	return 0
}

// DowntimeWeight is the share of time in this status that counts as downtime
// for availability: a major outage counts in full, a partial outage as 30%
// (as Atlassian Statuspage weighs it), degraded performance and planned
// maintenance not at all.
func (s ComponentStatus) DowntimeWeight() float64 {
	switch s {
	case MajorOutage:
		return 1
	case PartialOutage:
		return 0.3
	}
	return 0
}

// Impact is how bad an incident is, with Statuspage's value set.
type Impact string

// The impacts, from least to most severe.
const (
	ImpactNone     Impact = "none"
	ImpactMinor    Impact = "minor"
	ImpactMajor    Impact = "major"
	ImpactCritical Impact = "critical"
)

// Impacts lists every valid impact, least severe first.
var Impacts = []Impact{ImpactNone, ImpactMinor, ImpactMajor, ImpactCritical}

// ParseImpact checks s against the allowed impacts.
func ParseImpact(s string) (Impact, error) {
	for _, v := range Impacts {
		if string(v) == s {
			return v, nil
		}
	}
	return "", invalid("impact", s, Impacts)
}

// Rank orders impacts: higher is more severe.
func (i Impact) Rank() int {
	for n, v := range Impacts {
		if v == i {
			return n
		}
	}
	return 0
}

// Label is the human wording of the impact.
func (i Impact) Label() string {
	switch i {
	case ImpactNone:
		return "No impact"
	case ImpactMinor:
		return "Minor"
	case ImpactMajor:
		return "Major"
	case ImpactCritical:
		return "Critical"
	}
	return string(i)
}

// Kind tells an incident from a scheduled maintenance; both share the
// update timeline, as they do in Statuspage.
type Kind string

// The two kinds of event on the status page.
const (
	KindIncident    Kind = "incident"
	KindMaintenance Kind = "maintenance"
)

// Status is an incident's or a maintenance's state. The two kinds have their
// own value sets (see IncidentStatuses and MaintenanceStatuses).
type Status string

// Incident statuses, in their order of progress.
const (
	Investigating Status = "investigating"
	Identified    Status = "identified"
	Monitoring    Status = "monitoring"
	Resolved      Status = "resolved"
	Postmortem    Status = "postmortem"
)

// Maintenance statuses, in their order of progress.
const (
	Scheduled  Status = "scheduled"
	InProgress Status = "in_progress"
	Verifying  Status = "verifying"
	Completed  Status = "completed"
)

// IncidentStatuses lists the valid statuses of an incident in order.
var IncidentStatuses = []Status{Investigating, Identified, Monitoring, Resolved, Postmortem}

// MaintenanceStatuses lists the valid statuses of a maintenance in order.
var MaintenanceStatuses = []Status{Scheduled, InProgress, Verifying, Completed}

// Statuses returns the value set of the kind.
func (k Kind) Statuses() []Status {
	if k == KindMaintenance {
		return MaintenanceStatuses
	}
	return IncidentStatuses
}

// ParseStatus checks s against the statuses allowed for kind k.
func ParseStatus(k Kind, s string) (Status, error) {
	for _, v := range k.Statuses() {
		if string(v) == s {
			return v, nil
		}
	}
	return "", invalid(string(k)+" status", s, k.Statuses())
}

// Label is the human wording of the status.
func (s Status) Label() string {
	switch s {
	case InProgress:
		return "In progress"
	case "":
		return ""
	}
	return strings.ToUpper(string(s[:1])) + string(s[1:])
}

// Closed reports whether the status ends the event: resolved or postmortem
// for an incident, completed for a maintenance.
func (s Status) Closed() bool {
	return s == Resolved || s == Postmortem || s == Completed
}

// step is the position of s in its kind's order.
func (s Status) step(k Kind) int {
	for n, v := range k.Statuses() {
		if v == s {
			return n
		}
	}
	return -1
}

func invalid[T ~string](what, got string, allowed []T) error {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return &ValidationError{Field: what, Problem: fmt.Sprintf("%q is not one of %s", got, strings.Join(names, ", "))}
}
