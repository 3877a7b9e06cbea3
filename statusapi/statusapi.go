// Package statusapi shapes Herald's data as Atlassian Statuspage's public
// API v2, field for field, so existing Statuspage clients read Herald
// unchanged. It is a pure transformation: domain in, JSON documents out.
package statusapi

import (
	"sort"
	"time"

	"github.com/kredete/herald"
)

// TimeLayout is Statuspage's timestamp form: milliseconds and the page's
// offset, e.g. 2026-11-25T14:05:09.123+00:00.
const TimeLayout = "2006-01-02T15:04:05.000-07:00"

// Time is a timestamp written in the page's zone.
type Time struct{ time.Time }

// MarshalJSON writes the Statuspage form.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = t.AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON reads the Statuspage form (for clients and tests).
func (t *Time) UnmarshalJSON(b []byte) error {
	v, err := time.Parse(`"`+TimeLayout+`"`, string(b))
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// Page is Statuspage's page object.
type Page struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	TimeZone  string `json:"time_zone"`
	UpdatedAt Time   `json:"updated_at"`
}

// Status is the page's overall indicator.
type Status struct {
	Indicator   string `json:"indicator"`
	Description string `json:"description"`
}

// Component is Statuspage's component object. Components is present only on
// a group, as in Statuspage.
type Component struct {
	ID                 string   `json:"id"`
	Name               string   `json:"name"`
	Status             string   `json:"status"`
	CreatedAt          Time     `json:"created_at"`
	UpdatedAt          Time     `json:"updated_at"`
	Position           int      `json:"position"`
	Description        *string  `json:"description"`
	Showcase           bool     `json:"showcase"`
	StartDate          *string  `json:"start_date"`
	GroupID            *string  `json:"group_id"`
	PageID             string   `json:"page_id"`
	Group              bool     `json:"group"`
	OnlyShowIfDegraded bool     `json:"only_show_if_degraded"`
	Components         []string `json:"components,omitempty"`
}

// AffectedComponent is one component change within an update.
type AffectedComponent struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	OldStatus string `json:"old_status"`
	NewStatus string `json:"new_status"`
}

// IncidentUpdate is one message on an incident's timeline.
type IncidentUpdate struct {
	ID                   string              `json:"id"`
	Status               string              `json:"status"`
	Body                 string              `json:"body"`
	IncidentID           string              `json:"incident_id"`
	CreatedAt            Time                `json:"created_at"`
	UpdatedAt            Time                `json:"updated_at"`
	DisplayAt            Time                `json:"display_at"`
	AffectedComponents   []AffectedComponent `json:"affected_components"` // null when none, as Statuspage
	DeliverNotifications bool                `json:"deliver_notifications"`
	CustomTweet          *string             `json:"custom_tweet"`
	TweetID              *string             `json:"tweet_id"`
}

// Incident is Statuspage's incident object.
type Incident struct {
	ID              string           `json:"id"`
	Name            string           `json:"name"`
	Status          string           `json:"status"`
	CreatedAt       Time             `json:"created_at"`
	UpdatedAt       *Time            `json:"updated_at"`
	MonitoringAt    *Time            `json:"monitoring_at"`
	ResolvedAt      *Time            `json:"resolved_at"`
	Impact          string           `json:"impact"`
	Shortlink       string           `json:"shortlink"`
	StartedAt       Time             `json:"started_at"`
	PageID          string           `json:"page_id"`
	IncidentUpdates []IncidentUpdate `json:"incident_updates"`
	Components      []Component      `json:"components"`
}

// Maintenance is Statuspage's scheduled maintenance object: an incident
// with its window. The embedded incident's fields come first in the JSON,
// in the same order, as Statuspage writes them.
type Maintenance struct {
	Incident
	ScheduledFor   Time `json:"scheduled_for"`
	ScheduledUntil Time `json:"scheduled_until"`
}

// Summary is /api/v2/summary.json.
type Summary struct {
	Page                  Page          `json:"page"`
	Components            []Component   `json:"components"`
	Incidents             []Incident    `json:"incidents"`
	ScheduledMaintenances []Maintenance `json:"scheduled_maintenances"`
	Status                Status        `json:"status"`
}

// StatusDoc is /api/v2/status.json.
type StatusDoc struct {
	Page   Page   `json:"page"`
	Status Status `json:"status"`
}

// ComponentsDoc is /api/v2/components.json.
type ComponentsDoc struct {
	Page       Page        `json:"page"`
	Components []Component `json:"components"`
}

// IncidentsDoc is /api/v2/incidents.json and incidents/unresolved.json.
type IncidentsDoc struct {
	Page      Page       `json:"page"`
	Incidents []Incident `json:"incidents"`
}

// MaintenancesDoc is /api/v2/scheduled-maintenances*.json.
type MaintenancesDoc struct {
	Page                  Page          `json:"page"`
	ScheduledMaintenances []Maintenance `json:"scheduled_maintenances"`
}

// Documents are every API response of one snapshot.
type Documents struct {
	Summary      Summary
	Status       StatusDoc
	Components   ComponentsDoc
	Incidents    IncidentsDoc
	Unresolved   IncidentsDoc
	Maintenances MaintenancesDoc
	Upcoming     MaintenancesDoc
	Active       MaintenancesDoc
}

// Limit is how many incidents or maintenances the list endpoints return, as
// Statuspage does.
const Limit = 50

// Input is what the documents are built from.
type Input struct {
	Page       herald.Page
	Location   *time.Location
	UpdatedAt  time.Time
	Components []herald.Component
	Items      []herald.ComponentItem // the components as laid out with their groups (herald.Arrange); nil lists Components flat
	Incidents  []herald.Incident      // incidents and maintenances, newest first
	Status     herald.PageStatus
}

// Build shapes every document.
func Build(in Input) Documents {
	b := builder{in: in, byID: map[string]Component{}}
	comps := make([]Component, 0, len(in.Components)+len(in.Items))
	add := func(c herald.Component) {
		ac := b.component(c)
		b.byID[c.ID] = ac
		comps = append(comps, ac)
	}
	if in.Items == nil {
		for _, c := range in.Components {
			add(c)
		}
	}
	// As Statuspage lists them: a group (group: true, with its members'
	// ids) followed by its members, each pointing back through group_id.
	for _, it := range in.Items {
		if it.Group == nil {
			add(it.Component)
			continue
		}
		comps = append(comps, b.group(*it.Group, it.Status(), it.Members))
		for _, m := range it.Members {
			add(m)
		}
	}
	page := Page{ID: in.Page.ID, Name: in.Page.Name, URL: in.Page.URL, TimeZone: in.Page.TimeZone, UpdatedAt: b.t(in.UpdatedAt)}
	status := Status{Indicator: in.Status.Indicator, Description: in.Status.Description}

	all, unresolved := []Incident{}, []Incident{}
	maint, upcoming, active := []Maintenance{}, []Maintenance{}, []Maintenance{}
	for _, i := range in.Incidents {
		if i.Kind == herald.KindMaintenance {
			m := b.maintenance(i)
			if len(maint) < Limit {
				maint = append(maint, m)
			}
			switch i.Status {
			case herald.Scheduled:
				upcoming = append(upcoming, m)
			case herald.InProgress, herald.Verifying:
				active = append(active, m)
			}
			continue
		}
		ai := b.incident(i)
		if len(all) < Limit {
			all = append(all, ai)
		}
		if i.Open() {
			unresolved = append(unresolved, ai)
		}
	}
	// Upcoming maintenance reads soonest first.
	sort.SliceStable(upcoming, func(i, j int) bool { return upcoming[i].ScheduledFor.Before(upcoming[j].ScheduledFor.Time) })
	summaryMaint := append(append([]Maintenance{}, active...), upcoming...)
	return Documents{
		Summary:      Summary{Page: page, Components: comps, Incidents: unresolved, ScheduledMaintenances: summaryMaint, Status: status},
		Status:       StatusDoc{Page: page, Status: status},
		Components:   ComponentsDoc{Page: page, Components: comps},
		Incidents:    IncidentsDoc{Page: page, Incidents: all},
		Unresolved:   IncidentsDoc{Page: page, Incidents: unresolved},
		Maintenances: MaintenancesDoc{Page: page, ScheduledMaintenances: maint},
		Upcoming:     MaintenancesDoc{Page: page, ScheduledMaintenances: upcoming},
		Active:       MaintenancesDoc{Page: page, ScheduledMaintenances: active},
	}
}

type builder struct {
	in   Input
	byID map[string]Component
}

func (b *builder) t(t time.Time) Time { return Time{t.In(b.in.Location)} }

func (b *builder) tp(t *time.Time) *Time {
	if t == nil {
		return nil
	}
	v := b.t(*t)
	return &v
}

func (b *builder) component(c herald.Component) Component {
	var desc *string
	if c.Description != "" {
		d := c.Description
		desc = &d
	}
	var group *string
	if c.GroupID != "" {
		g := c.GroupID
		group = &g
	}
	start := c.CreatedAt.In(b.in.Location).Format(time.DateOnly)
	return Component{ID: c.ID, Name: c.Name, Status: string(c.Status), CreatedAt: b.t(c.CreatedAt), UpdatedAt: b.t(c.UpdatedAt),
		Position: c.Position, Description: desc, Showcase: c.Showcase, StartDate: &start, GroupID: group, PageID: b.in.Page.ID,
		OnlyShowIfDegraded: c.OnlyShowIfDegraded}
}

func (b *builder) group(g herald.ComponentGroup, status herald.ComponentStatus, members []herald.Component) Component {
	var desc *string
	if g.Description != "" {
		d := g.Description
		desc = &d
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	return Component{ID: g.ID, Name: g.Name, Status: string(status), CreatedAt: b.t(g.CreatedAt), UpdatedAt: b.t(g.UpdatedAt),
		Position: g.Position, Description: desc, PageID: b.in.Page.ID, Group: true, Components: ids}
}

func (b *builder) incident(i herald.Incident) Incident {
	updated := b.t(i.UpdatedAt)
	return Incident{ID: i.ID, Name: i.Name, Status: string(i.Status), CreatedAt: b.t(i.CreatedAt), UpdatedAt: &updated,
		MonitoringAt: b.tp(i.MonitoringAt), ResolvedAt: b.tp(i.ResolvedAt), Impact: string(i.Impact),
		Shortlink: b.in.Page.URL + "/incidents/" + i.ID, StartedAt: b.t(i.StartedAt), PageID: b.in.Page.ID,
		IncidentUpdates: b.updates(i), Components: b.components(i)}
}

func (b *builder) maintenance(i herald.Incident) Maintenance {
	m := Maintenance{Incident: b.incident(i)}
	m.Impact = "maintenance"
	if i.ScheduledFor != nil {
		m.ScheduledFor = b.t(*i.ScheduledFor)
	}
	if i.ScheduledUntil != nil {
		m.ScheduledUntil = b.t(*i.ScheduledUntil)
	}
	return m
}

func (b *builder) updates(i herald.Incident) []IncidentUpdate {
	out := make([]IncidentUpdate, 0, len(i.Updates))
	for _, u := range i.Updates {
		var affected []AffectedComponent
		for _, ch := range u.Changes {
			affected = append(affected, AffectedComponent{Code: ch.ComponentID, Name: ch.Name, OldStatus: string(ch.Old), NewStatus: string(ch.New)})
		}
		out = append(out, IncidentUpdate{ID: u.ID, Status: string(u.Status), Body: u.Body, IncidentID: i.ID,
			CreatedAt: b.t(u.CreatedAt), UpdatedAt: b.t(u.UpdatedAt), DisplayAt: b.t(u.DisplayAt),
			AffectedComponents: affected, DeliverNotifications: true})
	}
	return out
}

func (b *builder) components(i herald.Incident) []Component {
	out := make([]Component, 0, len(i.ComponentIDs))
	for _, id := range i.ComponentIDs {
		if c, ok := b.byID[id]; ok {
			out = append(out, c)
		}
	}
	return out
}
