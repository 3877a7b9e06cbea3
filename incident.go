package herald

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on user text, so one careless paste cannot bloat every page.
const (
	MaxNameLen = 200
	MaxBodyLen = 10000
)

// Incident is an incident or a scheduled maintenance with its timeline of
// public updates (newest first), as the status page shows it.
type Incident struct {
	ID               string
	Kind             Kind
	Name             string
	Status           Status
	Impact           Impact
	ComponentIDs     []string // affected components, in the order first named
	NotifyRegulators bool
	RegulatorsAt     *time.Time // when the regulator flag was set; nil: at declaration
	CreatedAt        time.Time
	UpdatedAt        time.Time
	StartedAt        time.Time
	MonitoringAt     *time.Time
	ResolvedAt       *time.Time
	ScheduledFor     *time.Time     // maintenance only
	ScheduledUntil   *time.Time     // maintenance only
	Updates          []Update       // newest first
	Version          int            // bumped by every change; a stale edit is refused
	DataLoss         *time.Duration // estimated data loss, against the plan's RPO
	DataLossSource   string         // who or what reported DataLoss: a person, an action's automation
	RestoredAt       *time.Time     // service restored: the end of the RTO clock
	RestoredBy       string         // who or what recorded RestoredAt
	// Drill marks an exercise run as an incident: it runs the console, the
	// clocks and the actions like a real one but never reaches the public
	// page, the public API, the feeds or the public audience.
	Drill bool
	// PagerDutyResolvedAt is when PagerDuty said its incident resolved: the
	// commander is asked to resolve (automatic only when configured).
	PagerDutyResolvedAt *time.Time
	// Triage says why the incident needs a human look, e.g. it came from a
	// PagerDuty service the configuration does not map.
	Triage string
}

// Update is one public message on an incident's timeline.
type Update struct {
	ID         string
	IncidentID string
	Status     Status
	Body       string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	DisplayAt  time.Time
	Changes    []ComponentChange
}

// AsOf is the incident as it stood just after the update: its updates up
// to that one, the update's status, and only the times that had come by
// then. ok is false when the incident has no such update. The name, impact
// and components have no history: they are as they are now. A notification
// about an earlier update, sent late (a retry, a resumed fan-out), tells
// that update, not a later one.
func (in Incident) AsOf(updateID string) (out Incident, ok bool) {
	for i, u := range in.Updates { // newest first
		if u.ID != updateID {
			continue
		}
		if i == 0 {
			return in, true
		}
		out = in
		out.Updates = in.Updates[i:]
		out.Status = u.Status
		out.UpdatedAt = u.CreatedAt
		if out.MonitoringAt != nil && out.MonitoringAt.After(u.CreatedAt) {
			out.MonitoringAt = nil
		}
		if out.ResolvedAt != nil && out.ResolvedAt.After(u.CreatedAt) {
			out.ResolvedAt = nil
		}
		return out, true
	}
	return in, false
}

// Open reports whether the incident is not yet resolved or completed.
func (in *Incident) Open() bool { return !in.Status.Closed() }

// Affects reports whether the incident names the component.
func (in *Incident) Affects(componentID string) bool {
	return slices.Contains(in.ComponentIDs, componentID)
}

// EndedAt is when the incident stopped affecting users: its resolution, or
// for an open incident, never (nil).
func (in *Incident) EndedAt() *time.Time { return in.ResolvedAt }

// Declaration is what it takes to open an incident or schedule a maintenance.
type Declaration struct {
	Kind             Kind
	Name             string
	Status           Status // empty: investigating, or scheduled for a maintenance
	Impact           Impact
	Body             string
	Components       []ComponentTarget
	NotifyRegulators bool
	ScheduledFor     time.Time // maintenance only
	ScheduledUntil   time.Time // maintenance only
	// Drill declares an exercise: its components are recorded as affected
	// but their status never changes, and it never reaches the public side.
	Drill bool
}

// UpdateInput is a new public update on an existing incident.
type UpdateInput struct {
	Status     Status
	Body       string
	Impact     Impact // empty keeps the current impact
	Components []ComponentTarget
}

// Declare validates d against the known components and returns the new
// incident with its first update. IDs are left for the store to assign.
func Declare(d Declaration, comps map[string]Component, now time.Time) (Incident, error) {
	var errs ValidationErrors
	if d.Kind == "" {
		d.Kind = KindIncident
	}
	if d.Kind != KindIncident && d.Kind != KindMaintenance {
		errs.Add("kind", fmt.Sprintf("%q is not one of incident, maintenance", d.Kind))
	}
	if d.Status == "" {
		d.Status = Investigating
		if d.Kind == KindMaintenance {
			d.Status = Scheduled
		}
	}
	checkText(&errs, "name", d.Name, MaxNameLen)
	checkText(&errs, "body", d.Body, MaxBodyLen)
	if _, err := ParseStatus(d.Kind, string(d.Status)); err != nil {
		errs.Add("status", err.(*ValidationError).Problem)
	} else if d.Status.Closed() {
		errs.Add("status", "a new "+string(d.Kind)+" cannot start "+string(d.Status))
	}
	// An incident is minor unless it says otherwise; a maintenance has no
	// impact unless it says otherwise.
	if d.Impact == "" {
		d.Impact = ImpactMinor
		if d.Kind == KindMaintenance {
			d.Impact = ImpactNone
		}
	}
	if _, err := ParseImpact(string(d.Impact)); err != nil {
		errs.Add("impact", err.(*ValidationError).Problem)
	}
	if d.Kind == KindMaintenance {
		switch {
		case d.ScheduledFor.IsZero():
			errs.Add("scheduled_for", "is required for a maintenance")
		case d.ScheduledUntil.IsZero():
			errs.Add("scheduled_until", "is required for a maintenance")
		case !d.ScheduledUntil.After(d.ScheduledFor):
			errs.Add("scheduled_until", "must be after scheduled_for")
		}
	}
	checkTargets(&errs, d.Components, comps)
	if d.Drill && d.Kind != KindIncident {
		errs.Add("drill", "only an incident can be a drill")
	}
	if err := errs.Err(); err != nil {
		return Incident{}, err
	}
	in := Incident{
		Kind:             d.Kind,
		Name:             strings.TrimSpace(d.Name),
		Status:           d.Status,
		Impact:           d.Impact,
		NotifyRegulators: d.NotifyRegulators,
		CreatedAt:        now,
		UpdatedAt:        now,
		StartedAt:        now,
		Drill:            d.Drill,
	}
	if d.Kind == KindMaintenance {
		f, u := d.ScheduledFor.UTC(), d.ScheduledUntil.UTC()
		in.ScheduledFor, in.ScheduledUntil = &f, &u
		in.StartedAt = f
	}
	if d.Status == Monitoring {
		in.MonitoringAt = &now
	}
	targets := defaultTargets(d.Kind, d.Status, d.Components, comps)
	u := Update{Status: d.Status, Body: strings.TrimSpace(d.Body), CreatedAt: now, UpdatedAt: now, DisplayAt: now}
	if !in.Drill { // a drill never moves a component: the public page must not change
		u.Changes = in.applyTargets(targets, comps)
	}
	for _, t := range d.Components {
		in.addComponent(t.ComponentID)
	}
	in.Updates = []Update{u}
	return in, nil
}

// Apply validates a new update against the incident's state and applies it:
// status, impact and component changes. comps holds the components with
// their current status. It returns the update to store.
func (in *Incident) Apply(u UpdateInput, comps map[string]Component, now time.Time) (Update, error) {
	var errs ValidationErrors
	checkText(&errs, "body", u.Body, MaxBodyLen)
	if u.Status == "" {
		u.Status = in.Status
	}
	if _, err := ParseStatus(in.Kind, string(u.Status)); err != nil {
		errs.Add("status", err.(*ValidationError).Problem)
	}
	if u.Impact != "" {
		if _, err := ParseImpact(string(u.Impact)); err != nil {
			errs.Add("impact", err.(*ValidationError).Problem)
		}
	}
	checkTargets(&errs, u.Components, comps)
	if err := errs.Err(); err != nil {
		return Update{}, err
	}
	if err := in.checkTransition(u.Status); err != nil {
		return Update{}, err
	}
	if u.Impact != "" {
		in.Impact = u.Impact
	}
	targets := defaultTargets(in.Kind, u.Status, u.Components, comps)
	// A maintenance starting puts its own components under maintenance
	// unless the update says otherwise; later updates leave them as they are.
	if in.Kind == KindMaintenance && in.Status == Scheduled && (u.Status == InProgress || u.Status == Verifying) {
		for _, id := range in.ComponentIDs {
			if !slices.ContainsFunc(targets, func(t ComponentTarget) bool { return t.ComponentID == id }) {
				targets = append(targets, ComponentTarget{ComponentID: id, Status: UnderMaintenance})
			}
		}
	}
	// Closing releases every affected component not explicitly set.
	if u.Status.Closed() && !in.Status.Closed() {
		for _, id := range in.ComponentIDs {
			if !slices.ContainsFunc(targets, func(t ComponentTarget) bool { return t.ComponentID == id }) {
				targets = append(targets, ComponentTarget{ComponentID: id, Status: Operational})
			}
		}
	}
	up := Update{IncidentID: in.ID, Status: u.Status, Body: strings.TrimSpace(u.Body), CreatedAt: now, UpdatedAt: now, DisplayAt: now}
	if !in.Drill { // nor does its resolution: the components were never moved
		up.Changes = in.applyTargets(targets, comps)
	}
	for _, t := range u.Components {
		in.addComponent(t.ComponentID)
	}
	switch {
	case u.Status == Monitoring && in.MonitoringAt == nil:
		in.MonitoringAt = &now
	case (u.Status == Resolved || u.Status == Completed) && in.ResolvedAt == nil:
		in.ResolvedAt = &now
	case u.Status == InProgress && in.Status == Scheduled:
		in.StartedAt = now
	}
	in.Status = u.Status
	in.UpdatedAt = now
	in.Updates = append([]Update{up}, in.Updates...)
	return up, nil
}

// Reopen puts a resolved incident back to investigating, with a public
// update saying why. A maintenance cannot be reopened.
func (in *Incident) Reopen(body string, now time.Time) (Update, error) {
	if in.Kind != KindIncident {
		return Update{}, fmt.Errorf("%w: a maintenance cannot be reopened", ErrInvalidTransition)
	}
	if !in.Status.Closed() {
		return Update{}, fmt.Errorf("%w: the incident is still open", ErrInvalidTransition)
	}
	var errs ValidationErrors
	checkText(&errs, "body", body, MaxBodyLen)
	if err := errs.Err(); err != nil {
		return Update{}, err
	}
	in.Status = Investigating
	in.ResolvedAt = nil
	in.MonitoringAt = nil
	in.UpdatedAt = now
	up := Update{IncidentID: in.ID, Status: Investigating, Body: strings.TrimSpace(body), CreatedAt: now, UpdatedAt: now, DisplayAt: now}
	in.Updates = append([]Update{up}, in.Updates...)
	return up, nil
}

// checkTransition enforces the order of progress: an incident moves forward
// through investigating → identified → monitoring → resolved (steps may be
// skipped, a status may repeat), a resolved incident may only gain a
// postmortem, and anything else on a closed incident needs Reopen.
func (in *Incident) checkTransition(to Status) error {
	from := in.Status
	if from.Closed() {
		if from == Resolved && to == Postmortem {
			return nil
		}
		return fmt.Errorf("%w: %s %s is %s; reopen it first", ErrClosed, in.Kind, in.ID, from)
	}
	if to == Postmortem {
		return fmt.Errorf("%w: %s → %s: resolve the incident before its postmortem", ErrInvalidTransition, from, to)
	}
	if to.step(in.Kind) < from.step(in.Kind) {
		return fmt.Errorf("%w: %s → %s goes backwards", ErrInvalidTransition, from, to)
	}
	return nil
}

// applyTargets moves components to their target status and returns the
// changes that actually happened, updating comps in place.
func (in *Incident) applyTargets(targets []ComponentTarget, comps map[string]Component) []ComponentChange {
	var changes []ComponentChange
	for _, t := range targets {
		c, ok := comps[t.ComponentID]
		if !ok || t.Status == "" || c.Status == t.Status {
			continue
		}
		changes = append(changes, ComponentChange{ComponentID: c.ID, Name: c.Name, Old: c.Status, New: t.Status})
		c.Status = t.Status
		comps[t.ComponentID] = c
	}
	return changes
}

func (in *Incident) addComponent(id string) {
	if !slices.Contains(in.ComponentIDs, id) {
		in.ComponentIDs = append(in.ComponentIDs, id)
	}
}

// defaultTargets fills in the component statuses a maintenance implies: in
// progress puts the named components under maintenance, completion frees
// them. Explicit targets always win.
func defaultTargets(k Kind, s Status, ts []ComponentTarget, comps map[string]Component) []ComponentTarget {
	out := slices.Clone(ts)
	if k != KindMaintenance {
		return out
	}
	for i, t := range out {
		if t.Status != "" {
			continue
		}
		switch s {
		case InProgress, Verifying:
			out[i].Status = UnderMaintenance
		case Completed:
			out[i].Status = Operational
		default:
			out[i].Status = comps[t.ComponentID].Status
		}
	}
	return out
}

func checkTargets(errs *ValidationErrors, ts []ComponentTarget, comps map[string]Component) {
	seen := map[string]bool{}
	for i, t := range ts {
		field := fmt.Sprintf("components[%d]", i)
		if _, ok := comps[t.ComponentID]; !ok {
			errs.Add(field, fmt.Sprintf("unknown component %q", t.ComponentID))
			continue
		}
		if seen[t.ComponentID] {
			errs.Add(field, fmt.Sprintf("component %q is named twice", t.ComponentID))
		}
		seen[t.ComponentID] = true
		if t.Status == "" {
			continue // maintenance defaults, or "affected, status unchanged"
		}
		if _, err := ParseComponentStatus(string(t.Status)); err != nil {
			errs.Add(field+".status", err.(*ValidationError).Problem)
		}
	}
}

func checkText(errs *ValidationErrors, field, s string, limit int) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		errs.Add(field, "must not be empty")
	case utf8.RuneCountInString(s) > limit:
		errs.Add(field, fmt.Sprintf("is %d characters; the limit is %d", utf8.RuneCountInString(s), limit))
	case !utf8.ValidString(s):
		errs.Add(field, "is not valid UTF-8")
	}
}

// RTOState says where an incident's recovery time comes from.
type RTOState string

// The RTO states.
const (
	RTORunning  RTOState = "running"  // not restored yet: the clock runs
	RTORestored RTOState = "restored" // the restore time was recorded
	RTOResolved RTOState = "resolved" // resolved without a restore time: the resolution stands in
)

// RTO is the recovery time achieved: declaration to restored service (as
// recorded by the commander or an action), else to resolution, else to now.
func (in *Incident) RTO(now time.Time) (time.Duration, RTOState) {
	switch {
	case in.RestoredAt != nil:
		return in.RestoredAt.Sub(in.CreatedAt), RTORestored
	case in.ResolvedAt != nil:
		return in.ResolvedAt.Sub(in.CreatedAt), RTOResolved
	}
	return now.Sub(in.CreatedAt), RTORunning
}
