package sms

import (
	"context"

	"github.com/kredete/herald/comms"
)

var _ comms.Channel = (*Client)(nil)

// Deliver texts one delivery to its recipient; SendMessage cuts it to
// MaxSegments, pointing to the email for the rest.
func (c *Client) Deliver(ctx context.Context, m comms.Message) (comms.Receipt, error) {
	return c.Send(ctx, m.Delivery.Recipient, body(m))
}

// body is the text of a delivery before it is cut to fit.
func body(m comms.Message) string {
	if m.Delivery.Subject != "" {
		return m.Delivery.Subject + ": " + m.Delivery.Body
	}
	return m.Delivery.Body
}
