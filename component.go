package herald

import "time"

// Component is one part of the service shown on the status page, such as
// "API Platform". Key is the stable name the configuration uses for it; ID is
// the opaque identifier the public API shows.
type Component struct {
	ID                 string
	Key                string
	Name               string
	Description        string
	Position           int
	Status             ComponentStatus
	Showcase           bool
	OnlyShowIfDegraded bool
	GroupID            string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// StatusChange is one entry of a component's status history: from At on, the
// component was in Status. IncidentID names the incident that caused it, if
// any. Uptime is computed from this history.
type StatusChange struct {
	ComponentID string
	Status      ComponentStatus
	At          time.Time
	IncidentID  string
}

// ComponentTarget asks for a component to be put in a status.
type ComponentTarget struct {
	ComponentID string
	Status      ComponentStatus
}

// ComponentChange records a component moving from Old to New as part of an
// update (Statuspage's affected_components).
type ComponentChange struct {
	ComponentID string
	Name        string
	Old         ComponentStatus
	New         ComponentStatus
}

// PageStatus is the page's overall state: Statuspage's status object.
type PageStatus struct {
	// Indicator is one of none, minor, major, critical, maintenance.
	Indicator string
	// Description is the banner text, e.g. "All Systems Operational".
	Description string
}

// Overall derives the page status from the components and the active
// incidents and maintenances: the worse of the worst component status and the
// highest unresolved incident impact. Maintenance shows only when nothing is
// broken.
func Overall(comps []Component, active []Incident) PageStatus {
	rank := 0 // 0 none, 1 minor, 2 major, 3 critical
	maint := false
	for _, c := range comps {
		switch c.Status {
		case DegradedPerformance:
			rank = max(rank, 1)
		case PartialOutage:
			rank = max(rank, 2)
		case MajorOutage:
			rank = max(rank, 3)
		case UnderMaintenance:
			maint = true
		}
	}
	for _, in := range active {
		if in.Status.Closed() {
			continue
		}
		if in.Kind == KindMaintenance {
			if in.Status == InProgress || in.Status == Verifying {
				maint = true
			}
			continue
		}
		rank = max(rank, in.Impact.Rank())
	}
	switch {
	case rank == 3:
		return PageStatus{"critical", "Major System Outage"}
	case rank == 2:
		return PageStatus{"major", "Partial System Outage"}
	case rank == 1:
		return PageStatus{"minor", "Minor Service Outage"}
	case maint:
		return PageStatus{"maintenance", "Service Under Maintenance"}
	}
	return PageStatus{"none", "All Systems Operational"}
}
