package sms

import (
	"context"

	"github.com/kredete/herald/comms"
)

var _ comms.Channel = (*Client)(nil)

// Deliver texts one delivery to its recipient; SendMessage cuts it to
// MaxSegments, pointing to the email for the rest.
func (c *Client) Deliver(ctx context.Context, m comms.Message) (comms.Receipt, error) {
	body := m.Delivery.Body
	if m.Delivery.Subject != "" {
		body = m.Delivery.Subject + ": " + body
	}
	return c.Send(ctx, m.Delivery.Recipient, body)
}
