package herald

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// IncidentRole is a seat in the incident's command structure.
type IncidentRole string

// The incident roles.
const (
	SeatCommander IncidentRole = "commander"
	SeatDeputy    IncidentRole = "deputy"
	SeatCommsLead IncidentRole = "communications_lead"
	SeatScribe    IncidentRole = "scribe"
)

// IncidentRoles lists the seats in display order.
var IncidentRoles = []IncidentRole{SeatCommander, SeatDeputy, SeatCommsLead, SeatScribe}

// ParseIncidentRole checks s against the seats.
func ParseIncidentRole(s string) (IncidentRole, error) {
	for _, r := range IncidentRoles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", invalid("incident role", s, IncidentRoles)
}

// Label is the seat's human name.
func (r IncidentRole) Label() string {
	switch r {
	case SeatCommander:
		return "Incident commander"
	case SeatDeputy:
		return "Deputy"
	case SeatCommsLead:
		return "Communications lead"
	case SeatScribe:
		return "Scribe"
	}
	return string(r)
}

// Assignment is who sits in a seat.
type Assignment struct {
	Role       IncidentRole
	UserID     string
	UserName   string
	AssignedAt time.Time
	AssignedBy string
}

// Composition is one update written once for every audience: a main text,
// optional per-audience texts, and the audiences it goes to.
type Composition struct {
	Status     Status
	Impact     Impact
	Main       string
	Overrides  map[string]string // audience key → its own text; absent: follows Main
	Audiences  []string          // audience keys ticked
	Components []ComponentTarget
}

// PublicAudience is the audience served by the status page, if the plan
// has one.
func (p Plan) PublicAudience() (Audience, bool) {
	for _, a := range p.Audiences {
		if slices.Contains(a.Channels, ChannelStatusPage) {
			return a, true
		}
	}
	return Audience{}, false
}

// Audience finds an audience by key.
func (p Plan) Audience(key string) (Audience, bool) {
	for _, a := range p.Audiences {
		if a.Key == key {
			return a, true
		}
	}
	return Audience{}, false
}

// TextFor is what the audience will receive: its own text, or the main one.
func (c Composition) TextFor(key string) string {
	if t, ok := c.Overrides[key]; ok && strings.TrimSpace(t) != "" {
		return strings.TrimSpace(t)
	}
	return strings.TrimSpace(c.Main)
}

// Sends reports whether the audience is ticked.
func (c Composition) Sends(key string) bool { return slices.Contains(c.Audiences, key) }

// Validate checks the composition against the plan and the incident: at
// least one audience, known audiences, a text for each ticked one, and a
// change of status or impact goes to the public page (it is public state).
func (c Composition) Validate(p Plan, in Incident) error {
	var errs ValidationErrors
	if len(c.Audiences) == 0 {
		errs.Add("audiences", "tick at least one audience")
	}
	for _, k := range c.Audiences {
		a, ok := p.Audience(k)
		if !ok {
			errs.Add("audiences", fmt.Sprintf("unknown audience %q", k))
			continue
		}
		checkText(&errs, "text_"+k, c.TextFor(k), MaxBodyLen)
		if a.Conditional && !in.NotifyRegulators {
			errs.Add("audiences", a.Name+" is only told when the incident says regulators must be notified")
		}
	}
	pub, hasPublic := p.PublicAudience()
	changes := (c.Status != "" && c.Status != in.Status) || (c.Impact != "" && c.Impact != in.Impact) || len(c.Components) > 0
	if hasPublic && changes && !c.Sends(pub.Key) {
		errs.Add("audiences", "a change of status, impact or components is public: tick "+pub.Name)
	}
	return errs.Err()
}

// Template is a prefilled text for an update of a status.
type Template struct {
	Status Status
	Body   string
}

// DefaultTemplates are the composer's starting texts; the configuration may
// replace them.
var DefaultTemplates = []Template{
	{Investigating, "We are investigating reports of problems with {components}. Next update by {next_update}."},
	{Identified, "We have identified the cause of the problems with {components} and are working on a fix. Next update by {next_update}."},
	{Monitoring, "A fix has been applied to {components}. We are monitoring the results. Next update by {next_update}."},
	{Resolved, "This incident has been resolved. {components} are operating normally. We apologise for the disruption."},
}

// TemplateBody is the text of the template for a status among templates
// (DefaultTemplates when there are none); "" when none is given for it.
func TemplateBody(templates []Template, st Status) string {
	if len(templates) == 0 {
		templates = DefaultTemplates
	}
	for _, t := range templates {
		if t.Status == st {
			return t.Body
		}
	}
	return ""
}

// Fill replaces {components}, {title} and {next_update} in a template.
func Fill(body, title, components, nextUpdate string) string {
	if components == "" {
		components = "our services"
	}
	return strings.NewReplacer("{components}", components, "{title}", title, "{next_update}", nextUpdate).Replace(body)
}

// DeclareAudiences are told an incident's first message: the public page
// and every real-time audience.
func (p Plan) DeclareAudiences() []string {
	var out []string
	for _, a := range p.Audiences {
		if a.Cadence.Kind == RealTime || slices.Contains(a.Channels, ChannelStatusPage) {
			out = append(out, a.Key)
		}
	}
	return out
}
