package email

import (
	"context"
	"fmt"
	"html"
	"strings"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
)

var _ comms.Channel = (*Client)(nil)

// Deliver emails one delivery to its recipient, as plain text and HTML.
// The Message-ID is derived from the delivery, so a retry after a lost
// reply carries the same id and the receiving side can drop the copy.
//
// The email channel is no comms.Reconciler: SMTP cannot be asked what a
// server accepted, so a delivery interrupted after the server took the
// message (the process killed before recording it) is sent again. The
// stable Message-ID is what lets mail clients and archives collapse that
// rare copy.
func (c *Client) Deliver(ctx context.Context, m comms.Message) (comms.Receipt, error) {
	d := m.Delivery
	domain := "herald.local"
	if at := strings.LastIndexByte(c.cfg.From, '@'); at >= 0 {
		domain = strings.Trim(c.cfg.From[at+1:], "> ")
	}
	text := d.Body
	if d.Kind != herald.KindReminder && d.Kind != herald.KindFailure && d.Kind != herald.KindSubscriber && d.IncidentID != "" {
		text = d.Body + "\n\n" + statusLine(m.Incident)
	}
	// A subject is one line: it is made from user text (an incident's
	// name), and Send refuses a line break in it rather than let one
	// start a header.
	subject := strings.Join(strings.Fields(d.Subject), " ")
	msg := Message{To: []string{d.Recipient}, Subject: subject, Text: text,
		HTML:      "<p>" + strings.ReplaceAll(html.EscapeString(text), "\n", "<br>") + "</p>",
		MessageID: fmt.Sprintf("<%s@%s>", d.ID, domain), Headers: m.Headers}
	return c.Send(ctx, msg)
}

func statusLine(in herald.Incident) string {
	return fmt.Sprintf("Status: %s. Impact: %s. Started %s.", in.Status.Label(), impactLabel(in.Impact),
		in.StartedAt.UTC().Format("2 Jan 2006 15:04 MST"))
}
