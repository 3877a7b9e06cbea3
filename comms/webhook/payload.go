package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/kredete/herald"
)

// The bodies are Statuspage's webhook notifications, field for field, so a
// receiver written for Statuspage reads Herald's unchanged:
//
//	{"meta":{...},"page":{...},"incident":{...}}
//	{"meta":{...},"page":{...},"component_update":{...},"component":{...}}
//
// The incident and component objects are those of Herald's Statuspage API
// (statusapi.Incident or statusapi.Maintenance, statusapi.Component), built
// by Renderer with statusapi.Build; the payload functions take them as any
// so that a test can pass a hand-written object.

// timeLayout is statusapi.TimeLayout (a test keeps them equal): Statuspage's
// timestamps, with milliseconds and the page's offset.
const timeLayout = "2006-01-02T15:04:05.000-07:00"

// Meta is a notification's meta object.
type Meta struct {
	// Unsubscribe is the subscriber's one-click unsubscribe link.
	Unsubscribe string `json:"unsubscribe"`
	// Documentation explains the notifications and their signature.
	Documentation string `json:"documentation"`
}

// Page is a notification's page object: the page and its overall status
// after the change.
type Page struct {
	ID                string `json:"id"`
	StatusIndicator   string `json:"status_indicator"`   // none, minor, major, critical, maintenance
	StatusDescription string `json:"status_description"` // "Partial System Outage"
}

// PageOf is the page object for p in status s.
func PageOf(p herald.Page, s herald.PageStatus) Page {
	return Page{ID: p.ID, StatusIndicator: s.Indicator, StatusDescription: s.Description}
}

// ComponentUpdate is a component change's component_update object.
type ComponentUpdate struct {
	CreatedAt   time.Time // written in its own zone: pass it in the page's
	NewStatus   herald.ComponentStatus
	OldStatus   herald.ComponentStatus
	ID          string // the change's id
	ComponentID string
}

// MarshalJSON writes Statuspage's field order and timestamp form.
func (u ComponentUpdate) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		CreatedAt   string `json:"created_at"`
		NewStatus   string `json:"new_status"`
		OldStatus   string `json:"old_status"`
		ID          string `json:"id"`
		ComponentID string `json:"component_id"`
	}{u.CreatedAt.Format(timeLayout), string(u.NewStatus), string(u.OldStatus), u.ID, u.ComponentID})
}

// IncidentEvent is the body of an incident (or maintenance) notification.
type IncidentEvent struct {
	Meta     Meta `json:"meta"`
	Page     Page `json:"page"`
	Incident any  `json:"incident"` // statusapi.Incident or statusapi.Maintenance
}

// ComponentEvent is the body of a component status notification.
type ComponentEvent struct {
	Meta            Meta            `json:"meta"`
	Page            Page            `json:"page"`
	ComponentUpdate ComponentUpdate `json:"component_update"`
	Component       any             `json:"component"` // statusapi.Component
}

// errNoObject refuses a body without its incident or component: Statuspage
// always sends one, and a receiver would read null as a broken payload.
var errNoObject = errors.New("webhook: a notification needs its incident or component object")

// IncidentPayload is the body notifying an incident's (or a maintenance's)
// change: incident as Herald's Statuspage API shows it, after the change.
func IncidentPayload(meta Meta, page Page, incident any) ([]byte, error) {
	if incident == nil {
		return nil, errNoObject
	}
	return marshal(IncidentEvent{Meta: meta, Page: page, Incident: incident})
}

// ComponentPayload is the body notifying a component's change of status:
// component as Herald's Statuspage API shows it, after the change.
func ComponentPayload(meta Meta, page Page, update ComponentUpdate, component any) ([]byte, error) {
	if component == nil {
		return nil, errNoObject
	}
	return marshal(ComponentEvent{Meta: meta, Page: page, ComponentUpdate: update, Component: component})
}

// marshal writes v compact and without HTML escaping: an unsubscribe link's
// & stays &, as Statuspage writes it.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
