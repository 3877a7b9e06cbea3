package herald

import "time"

// TimelineEvent is one line of an incident's internal timeline: everything
// that happened, by whom and when (declaration, updates and who they went
// to, status and component changes, role changes, notes; later deliveries,
// reminders and failover actions).
type TimelineEvent struct {
	Kind    string // declared, update, communication, component, role, note, data_loss, reopen, ...
	Actor   string
	Summary string
	At      time.Time
}

// TimelineKinds are the filters the console offers, with their labels.
var TimelineKinds = []struct{ Kind, Label string }{
	{"update", "Updates"},
	{"communication", "Messages"},
	{"component", "Components"},
	{"role", "Roles"},
	{"note", "Notes"},
	{"action", "Failover actions"},
	{"pagerduty", "PagerDuty"},
}

// AuditEntry is one write: who, when, what, before and after (JSON).
type AuditEntry struct {
	ID         int64
	At         time.Time
	Actor      string
	Action     string
	IncidentID string
	Entity     string
	EntityID   string
	Before     string
	After      string
}

// Actor is who did something: a console user, or a system name such as
// "admin-api" with an empty ID.
type Actor struct {
	ID   string
	Name string
}

// String is how the actor is shown in the timeline and the audit log.
func (a Actor) String() string {
	if a.Name == "" {
		return a.ID
	}
	return a.Name
}
