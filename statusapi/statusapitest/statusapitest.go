// Package statusapitest reads Statuspage API v2 documents as a strict
// Statuspage client would, for tests anywhere in Herald: the golden files,
// the live server's answers and the static export's files are all checked
// against the same types, written from Statuspage's public documentation
// independently of package statusapi's own.
package statusapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ForPath returns a fresh document to decode the API path into (a path
// under /api/v2/, e.g. "/api/v2/summary.json"), or nil for an unknown path.
func ForPath(path string) any {
	switch strings.TrimPrefix(path, "/api/v2/") {
	case "summary.json":
		return &Summary{}
	case "status.json":
		return &StatusDoc{}
	case "components.json":
		return &ComponentsDoc{}
	case "incidents.json", "incidents/unresolved.json":
		return &IncidentsDoc{}
	case "scheduled-maintenances.json", "scheduled-maintenances/upcoming.json", "scheduled-maintenances/active.json":
		return &MaintenancesDoc{}
	}
	return nil
}

// The types below are written from Atlassian Statuspage's public API v2,
// independently of the package's own types. A pointer means the field may
// be null; anything else must be present and non-null. omitempty marks a
// key that may be absent (a component's "components" exists only on groups).

// Page is a document's page object.
type Page struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	TimeZone  string `json:"time_zone"`
	UpdatedAt string `json:"updated_at"`
}

// Status is the overall indicator and its description.
type Status struct {
	Indicator   indicator `json:"indicator"`
	Description string    `json:"description"`
}

// Component is a component or a component group.
type Component struct {
	ID                 string          `json:"id"`
	Name               string          `json:"name"`
	Status             componentStatus `json:"status"`
	CreatedAt          string          `json:"created_at"`
	UpdatedAt          string          `json:"updated_at"`
	Position           int             `json:"position"`
	Description        *string         `json:"description"`
	Showcase           bool            `json:"showcase"`
	StartDate          *string         `json:"start_date"`
	GroupID            *string         `json:"group_id"`
	PageID             string          `json:"page_id"`
	Group              bool            `json:"group"`
	OnlyShowIfDegraded bool            `json:"only_show_if_degraded"`
	Components         []string        `json:"components,omitempty"`
}

// AffectedComponent is a component change an update made.
type AffectedComponent struct {
	Code      string          `json:"code"`
	Name      string          `json:"name"`
	OldStatus componentStatus `json:"old_status"`
	NewStatus componentStatus `json:"new_status"`
}

// Update is an incident_update; S is the status set of its parent.
type Update[S any] struct {
	ID                   string               `json:"id"`
	Status               S                    `json:"status"`
	Body                 string               `json:"body"`
	IncidentID           string               `json:"incident_id"`
	CreatedAt            string               `json:"created_at"`
	UpdatedAt            string               `json:"updated_at"`
	DisplayAt            string               `json:"display_at"`
	AffectedComponents   *[]AffectedComponent `json:"affected_components"`
	DeliverNotifications bool                 `json:"deliver_notifications"`
	CustomTweet          *string              `json:"custom_tweet"`
	TweetID              *string              `json:"tweet_id"`
}

// Incident is an incident in incidents.json and the summary.
type Incident struct {
	ID              string                   `json:"id"`
	Name            string                   `json:"name"`
	Status          incidentStatus           `json:"status"`
	CreatedAt       string                   `json:"created_at"`
	UpdatedAt       *string                  `json:"updated_at"`
	MonitoringAt    *string                  `json:"monitoring_at"`
	ResolvedAt      *string                  `json:"resolved_at"`
	Impact          impact                   `json:"impact"`
	Shortlink       string                   `json:"shortlink"`
	StartedAt       string                   `json:"started_at"`
	PageID          string                   `json:"page_id"`
	IncidentUpdates []Update[incidentStatus] `json:"incident_updates"`
	Components      []Component              `json:"components"`
}

// Maintenance is a scheduled maintenance.
type Maintenance struct {
	ID              string                      `json:"id"`
	Name            string                      `json:"name"`
	Status          maintenanceStatus           `json:"status"`
	CreatedAt       string                      `json:"created_at"`
	UpdatedAt       *string                     `json:"updated_at"`
	MonitoringAt    *string                     `json:"monitoring_at"`
	ResolvedAt      *string                     `json:"resolved_at"`
	Impact          impact                      `json:"impact"`
	Shortlink       string                      `json:"shortlink"`
	StartedAt       string                      `json:"started_at"`
	PageID          string                      `json:"page_id"`
	IncidentUpdates []Update[maintenanceStatus] `json:"incident_updates"`
	Components      []Component                 `json:"components"`
	ScheduledFor    string                      `json:"scheduled_for"`
	ScheduledUntil  string                      `json:"scheduled_until"`
}

// Summary is summary.json.
type Summary struct {
	Page                  Page          `json:"page"`
	Components            []Component   `json:"components"`
	Incidents             []Incident    `json:"incidents"`
	ScheduledMaintenances []Maintenance `json:"scheduled_maintenances"`
	Status                Status        `json:"status"`
}

// StatusDoc is status.json.
type StatusDoc struct {
	Page   Page   `json:"page"`
	Status Status `json:"status"`
}

// ComponentsDoc is components.json.
type ComponentsDoc struct {
	Page       Page        `json:"page"`
	Components []Component `json:"components"`
}

// IncidentsDoc is incidents.json and incidents/unresolved.json.
type IncidentsDoc struct {
	Page      Page       `json:"page"`
	Incidents []Incident `json:"incidents"`
}

// MaintenancesDoc is scheduled-maintenances.json, upcoming.json and active.json.
type MaintenancesDoc struct {
	Page                  Page          `json:"page"`
	ScheduledMaintenances []Maintenance `json:"scheduled_maintenances"`
}

// Statuspage's value sets.
var (
	componentStatuses   = []string{"operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"}
	incidentStatuses    = []string{"investigating", "identified", "monitoring", "resolved", "postmortem"}
	maintenanceStatuses = []string{"scheduled", "in_progress", "verifying", "completed"}
	impacts             = []string{"none", "minor", "major", "critical", "maintenance"}
	indicators          = []string{"none", "minor", "major", "critical", "maintenance"}
)

type (
	componentStatus   string
	incidentStatus    string
	maintenanceStatus string
	impact            string
	indicator         string
)

func (v *componentStatus) UnmarshalJSON(b []byte) error {
	return oneOf(b, (*string)(v), "component status", componentStatuses)
}
func (v *incidentStatus) UnmarshalJSON(b []byte) error {
	return oneOf(b, (*string)(v), "incident status", incidentStatuses)
}
func (v *maintenanceStatus) UnmarshalJSON(b []byte) error {
	return oneOf(b, (*string)(v), "maintenance status", maintenanceStatuses)
}
func (v *impact) UnmarshalJSON(b []byte) error { return oneOf(b, (*string)(v), "impact", impacts) }
func (v *indicator) UnmarshalJSON(b []byte) error {
	return oneOf(b, (*string)(v), "indicator", indicators)
}

func oneOf(b []byte, dst *string, what string, set []string) error {
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !slices.Contains(set, *dst) {
		return fmt.Errorf("%s %q is not one of %s", what, *dst, strings.Join(set, ", "))
	}
	return nil
}

var (
	// RFC 3339 with milliseconds and a numeric offset, as Statuspage writes.
	stampPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$`)
	datePattern  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// Problems checks one document as a strict Statuspage client would read
// it: no unknown fields, every key present, nulls only where Statuspage
// allows them, lists as [] when empty, value sets, timestamps in the page's
// offset (e.g. "+01:00"), and the cross references (page_id, incident_id,
// shortlink). into is the document type to decode into (see ForPath).
// None: the document conforms.
func Problems(b []byte, into any, offset string) []string {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return []string{fmt.Sprintf("strict decode into %T: %v", into, err)}
	}
	var generic any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&generic); err != nil {
		return []string{err.Error()}
	}
	problems := shape(reflect.TypeOf(into).Elem(), generic, "$", offset)
	return append(problems, refProblems(into)...)
}

// shape walks the JSON value v alongside the test-side type typ and reports
// every key that is missing, null where it may not be, or of the wrong kind,
// and every timestamp not in Statuspage's form and the page's offset.
func shape(typ reflect.Type, v any, path, offset string) []string {
	if typ.Kind() == reflect.Pointer {
		if v == nil {
			return nil
		}
		return shape(typ.Elem(), v, path, offset)
	}
	if v == nil {
		if typ.Kind() == reflect.Slice {
			return []string{path + ": null, want a list ([] when empty)"}
		}
		return []string{path + ": null is not allowed here"}
	}
	var problems []string
	switch typ.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, want an object", path, v)}
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			fv, present := obj[name]
			if !present {
				if opts != "omitempty" {
					problems = append(problems, path+"."+name+": missing")
				}
				continue
			}
			problems = append(problems, shape(f.Type, fv, path+"."+name, offset)...)
			if s, ok := fv.(string); ok {
				problems = append(problems, checkStamp(name, s, path+"."+name, offset)...)
			}
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, want a list", path, v)}
		}
		for i, e := range list {
			problems = append(problems, shape(typ.Elem(), e, fmt.Sprintf("%s[%d]", path, i), offset)...)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			problems = append(problems, fmt.Sprintf("%s: %T, want a string", path, v))
		}
	case reflect.Int:
		if _, ok := v.(json.Number); !ok {
			problems = append(problems, fmt.Sprintf("%s: %T, want a number", path, v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			problems = append(problems, fmt.Sprintf("%s: %T, want true or false", path, v))
		}
	default:
		problems = append(problems, fmt.Sprintf("%s: the test cannot check a %s", path, typ))
	}
	return problems
}

func checkStamp(key, s, path, offset string) []string {
	switch {
	case key == "start_date":
		if !datePattern.MatchString(s) {
			return []string{fmt.Sprintf("%s = %q, want YYYY-MM-DD", path, s)}
		}
	case strings.HasSuffix(key, "_at") || key == "scheduled_for" || key == "scheduled_until":
		if !stampPattern.MatchString(s) {
			return []string{fmt.Sprintf("%s = %q, want RFC 3339 with milliseconds and a numeric offset", path, s)}
		}
		if !strings.HasSuffix(s, offset) {
			return []string{fmt.Sprintf("%s = %q, want the page's offset %s", path, s, offset)}
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000-07:00", s); err != nil {
			return []string{fmt.Sprintf("%s = %q: %v", path, s, err)}
		}
	}
	return nil
}

// refProblems checks the ids that tie a document together.
func refProblems(doc any) []string {
	var problems []string
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var page Page
	var incidents []Incident
	var maint []Maintenance
	var comps []Component
	switch d := doc.(type) {
	case *Summary:
		page, incidents, maint, comps = d.Page, d.Incidents, d.ScheduledMaintenances, d.Components
	case *StatusDoc:
		page = d.Page
	case *ComponentsDoc:
		page, comps = d.Page, d.Components
	case *IncidentsDoc:
		page, incidents = d.Page, d.Incidents
	case *MaintenancesDoc:
		page, maint = d.Page, d.ScheduledMaintenances
	default:
		return []string{fmt.Sprintf("refProblems: unexpected %T", doc)}
	}
	if page.ID == "" || page.Name == "" || page.URL == "" || page.TimeZone == "" {
		errorf("page = %+v: id, name, url and time_zone must be set", page)
	}
	checkComps := func(where string, cs []Component) {
		for _, c := range cs {
			if c.PageID != page.ID {
				errorf("%s component %s: page_id %q, want %q", where, c.ID, c.PageID, page.ID)
			}
		}
	}
	checkComps("page", comps)
	checkIncident := func(id, pageID, shortlink string, updates []string, cs []Component) {
		if pageID != page.ID {
			errorf("%s: page_id %q, want %q", id, pageID, page.ID)
		}
		if want := page.URL + "/incidents/" + id; shortlink != want {
			errorf("%s: shortlink %q, want %q", id, shortlink, want)
		}
		for _, u := range updates {
			if u != id {
				errorf("%s: an update names incident_id %q", id, u)
			}
		}
		checkComps(id, cs)
	}
	for _, in := range incidents {
		var ups []string
		for _, u := range in.IncidentUpdates {
			ups = append(ups, u.IncidentID)
		}
		checkIncident(in.ID, in.PageID, in.Shortlink, ups, in.Components)
		if in.Impact == "maintenance" {
			errorf("incident %s has impact maintenance, which only scheduled maintenances carry", in.ID)
		}
	}
	for _, m := range maint {
		var ups []string
		for _, u := range m.IncidentUpdates {
			ups = append(ups, u.IncidentID)
		}
		checkIncident(m.ID, m.PageID, m.Shortlink, ups, m.Components)
		if m.Impact != "maintenance" {
			errorf("maintenance %s has impact %q, want maintenance", m.ID, m.Impact)
		}
	}
	return problems
}
