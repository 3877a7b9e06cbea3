package slack

import (
	"context"
	"fmt"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
)

var _ comms.Channel = (*Client)(nil)

// Deliver sends one delivery: the incident's thread parent, an in-place
// edit of it, a reply in it, or a reminder as a direct message (the
// delivery's recipient is then the person's email).
func (c *Client) Deliver(ctx context.Context, m comms.Message) (comms.Receipt, error) {
	d := m.Delivery
	switch d.Kind {
	case herald.KindThread:
		return c.PostIncident(ctx, d.Recipient, m.Incident, m.Components, m.Commander)
	case herald.KindEdit:
		if err := c.UpdateIncident(ctx, m.ThreadChannel, m.ThreadTS, m.Incident, m.Components, m.Commander); err != nil {
			return comms.Receipt{}, err
		}
		return comms.Receipt{ProviderID: m.ThreadTS, Channel: m.ThreadChannel}, nil
	case herald.KindReply:
		text, blocks := EventBlocks(d.Body)
		return c.Reply(ctx, m.ThreadChannel, m.ThreadTS, text, blocks...)
	case herald.KindReminder, herald.KindFailure:
		text, blocks := EventBlocks(d.Body + "\n" + c.IncidentURL(m.Incident.ID))
		return c.DirectMessage(ctx, d.Recipient, text, blocks...)
	}
	return comms.Receipt{}, fmt.Errorf("slack: cannot deliver a %s", d.Kind)
}
