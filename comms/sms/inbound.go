package sms

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrInvalidInbound: signed or not, the request is not an inbound message
// Herald can read. Answer 400.
var ErrInvalidInbound = errors.New("not an inbound message")

// maxInboundBody bounds an inbound message's text: Twilio joins a long
// message's segments, up to 1600 characters.
const maxInboundBody = 1600

// Inbound is one text someone sent to Herald's number, as Twilio posts it
// to the number's (or Messaging Service's) incoming-message webhook.
type Inbound struct {
	MessageSID string // SM…
	AccountSID string
	From       string // the sender, E.164
	To         string // Herald's number
	Body       string
}

// ParseInbound verifies that r is an incoming-message webhook Twilio
// signed with this account's auth token, exactly as ParseStatusCallback
// does, and returns the message. publicURL is the exact URL configured
// in Twilio (Herald's /webhooks/twilio/inbound). A missing or wrong
// signature matches ErrSignature (answer 401); a request without a sender
// matches ErrInvalidInbound (answer 400). r.Body is restored.
func (c *Client) ParseInbound(r *http.Request, publicURL string) (Inbound, error) {
	if publicURL == "" {
		return Inbound{}, errors.New("sms: inbound: no public URL to check the signature against")
	}
	form, err := c.verifiedForm(r, publicURL, ErrInvalidInbound)
	if err != nil {
		return Inbound{}, fmt.Errorf("sms: inbound: %w", err)
	}
	in := Inbound{
		MessageSID: form.Get("MessageSid"),
		AccountSID: form.Get("AccountSid"),
		From:       strings.TrimSpace(form.Get("From")),
		To:         strings.TrimSpace(form.Get("To")),
		Body:       form.Get("Body"),
	}
	if in.From == "" {
		return Inbound{}, fmt.Errorf("sms: inbound: %w: no From", ErrInvalidInbound)
	}
	if len([]rune(in.Body)) > maxInboundBody {
		return Inbound{}, fmt.Errorf("sms: inbound: %w: Body over %d characters", ErrInvalidInbound, maxInboundBody)
	}
	return in, nil
}
