package herald

import (
	"sort"
	"time"
)

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

// ComponentGroup is a heading over several components, as Statuspage's
// component groups. It has no status of its own: it shows the worst of its
// components'.
type ComponentGroup struct {
	ID          string
	Key         string
	Name        string
	Description string
	Position    int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// ComponentItem is one row of the page's component list: a component on its
// own (Group nil) or a group with its members in display order.
type ComponentItem struct {
	Group     *ComponentGroup
	Component Component   // when Group is nil
	Members   []Component // when Group is set; never empty
}

// Status is the component's status, or the worst of the group's members'.
func (it ComponentItem) Status() ComponentStatus {
	if it.Group == nil {
		return it.Component.Status
	}
	return WorstStatus(it.Members)
}

// WorstStatus is the most severe status among comps (Operational for none).
func WorstStatus(comps []Component) ComponentStatus {
	worst := Operational
	for _, c := range comps {
		if c.Status.Severity() > worst.Severity() {
			worst = c.Status
		}
	}
	return worst
}

// Arrange lays components out as the page shows them: stand-alone components
// and groups ordered by position (then name), each group's members by
// position. A component whose group is unknown stands alone; a group without
// members is left out, as Statuspage hides empty groups.
func Arrange(groups []ComponentGroup, comps []Component) []ComponentItem {
	byGroup := map[string][]Component{}
	known := make(map[string]bool, len(groups))
	for _, g := range groups {
		known[g.ID] = true
	}
	var items []ComponentItem
	for _, c := range comps {
		if c.GroupID != "" && known[c.GroupID] {
			byGroup[c.GroupID] = append(byGroup[c.GroupID], c)
			continue
		}
		items = append(items, ComponentItem{Component: c})
	}
	for i := range groups {
		g := groups[i]
		members := byGroup[g.ID]
		if len(members) == 0 {
			continue
		}
		sortComponents(members)
		items = append(items, ComponentItem{Group: &g, Members: members})
	}
	sort.SliceStable(items, func(i, j int) bool {
		pi, pj := items[i].position(), items[j].position()
		if pi != pj {
			return pi < pj
		}
		return items[i].name() < items[j].name()
	})
	return items
}

func (it ComponentItem) position() int {
	if it.Group != nil {
		return it.Group.Position
	}
	return it.Component.Position
}

func (it ComponentItem) name() string {
	if it.Group != nil {
		return it.Group.Name
	}
	return it.Component.Name
}

func sortComponents(cs []Component) {
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].Position != cs[j].Position {
			return cs[i].Position < cs[j].Position
		}
		return cs[i].Name < cs[j].Name
	})
}
