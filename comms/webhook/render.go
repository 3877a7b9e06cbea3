package webhook

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/statusapi"
)

// Renderer writes webhook notifications with the objects of Herald's
// Statuspage API (statusapi), so a notification's incident or component
// reads exactly as /api/v2 shows it.
type Renderer struct {
	Page     herald.Page
	Location *time.Location // the page's zone; UTC when nil
	// Documentation is the meta.documentation link: where the payloads and
	// their signature are explained (the page's webhook subscription form).
	Documentation string
}

var _ comms.WebhookRenderer = Renderer{}

// Render writes n's body: an incident (or maintenance) notification, or a
// component's.
func (r Renderer) Render(n comms.WebhookNotice) ([]byte, error) {
	loc := r.Location
	if loc == nil {
		loc = time.UTC
	}
	in := statusapi.Input{Page: r.Page, Location: loc, UpdatedAt: time.Now(), Components: n.Components,
		Status: herald.Overall(n.Components, n.Open)}
	if n.Incident != nil {
		in.Incidents = []herald.Incident{*n.Incident}
	}
	docs := statusapi.Build(in)
	meta := Meta{Unsubscribe: n.Unsubscribe, Documentation: r.Documentation}
	page := PageOf(r.Page, in.Status)
	switch {
	case n.Incident != nil && n.Incident.Kind == herald.KindMaintenance:
		if len(docs.Maintenances.ScheduledMaintenances) == 0 {
			return nil, errNoObject
		}
		return IncidentPayload(meta, page, docs.Maintenances.ScheduledMaintenances[0])
	case n.Incident != nil:
		if len(docs.Incidents.Incidents) == 0 {
			return nil, errNoObject
		}
		return IncidentPayload(meta, page, docs.Incidents.Incidents[0])
	case n.Change != nil:
		for _, c := range docs.Components.Components {
			if c.ID == n.Change.ComponentID && !c.Group {
				up := ComponentUpdate{CreatedAt: n.Change.At.In(loc), NewStatus: n.Change.New, OldStatus: n.Change.Old,
					ID: strconv.FormatInt(n.Change.ChangeID, 10), ComponentID: n.Change.ComponentID}
				return ComponentPayload(meta, page, up, c)
			}
		}
		return nil, errors.New("webhook: the changed component is not on the page")
	}
	return nil, errNoObject
}

var _ comms.Channel = (*Client)(nil)

// Deliver posts a webhook subscriber's notification: the body the engine
// rendered (Renderer), signed with the subscriber's secret, the delivery's
// id as the idempotency key. The receipt names the endpoint's answer.
func (c *Client) Deliver(ctx context.Context, m comms.Message) (comms.Receipt, error) {
	d := m.Delivery
	res, err := c.Post(ctx, d.Recipient, m.Secret, d.ID, []byte(d.Body))
	if err != nil {
		return comms.Receipt{}, err
	}
	return comms.Receipt{ProviderID: "HTTP " + strconv.Itoa(res.StatusCode)}, nil
}
