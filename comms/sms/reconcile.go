package sms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/kredete/herald/comms"
)

var _ comms.Reconciler = (*Client)(nil)

// reconcileSlack widens the search window before an attempt's start, for
// Twilio's clock and Herald's being a little apart (Twilio's dates also
// have whole seconds only).
const reconcileSlack = time.Minute

// Bounds of the two reads: every message to the number sent since the
// window's day, and the newest ones to it whatever their state.
const (
	reconcileLimit  = 1000
	reconcileRecent = 50
)

// Delivered reports whether Twilio already accepted the text of a delivery
// whose attempt started at since. Twilio keeps nothing of Herald's on a
// message, so it matches on what identifies one: the account's messages to
// the recipient from Herald's sender (the number, or the Messaging Service)
// with exactly the body Deliver sends, created since the attempt started
// (less a minute for clocks). Of several, the newest is returned; the
// engine checks that its SID is not already another delivery's (an
// earlier message with the same text to the same phone).
//
// It reads the Messages list twice: filtered by DateSent on and after the
// window's day (Twilio documents the filter by day; a day boundary gives
// the same superset however Twilio reads the time), then the newest
// messages to the number unfiltered, because a message still in Twilio's
// queue has no date_sent yet and the filter leaves it out. A body Twilio
// changed (a Messaging Service's smart encoding) is not recognised: the
// text is then sent again.
func (c *Client) Delivered(ctx context.Context, m comms.Message, since time.Time) (comms.Receipt, bool, error) {
	to := m.Delivery.Recipient
	if ValidNumber(to) != nil {
		return comms.Receipt{}, false, nil // Deliver refuses it too
	}
	text, _ := Fit(body(m), c.cfg.Suffix, MaxSegments)
	from := since.Add(-reconcileSlack).UTC()
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*c.timeout)
		defer cancel()
	}
	api, rt := c.service(ctx)
	params := c.listParams(to)
	params.SetDateSentAfter(from.Truncate(24 * time.Hour))
	params.SetPageSize(200)
	params.SetLimit(reconcileLimit)
	msgs, err := api.ListMessage(params)
	if err != nil {
		return comms.Receipt{}, false, c.listError(ctx, rt, err)
	}
	if rec, ok := c.newest(msgs, text, from); ok {
		return rec, true, nil
	}
	params = c.listParams(to)
	params.SetPageSize(reconcileRecent)
	params.SetLimit(reconcileRecent)
	if msgs, err = api.ListMessage(params); err != nil {
		return comms.Receipt{}, false, c.listError(ctx, rt, err)
	}
	rec, ok := c.newest(msgs, text, from)
	return rec, ok, nil
}

func (c *Client) listParams(to string) *openapi.ListMessageParams {
	params := &openapi.ListMessageParams{}
	params.SetTo(to)
	if !c.viaService() {
		params.SetFrom(c.cfg.From)
	}
	return params
}

func (c *Client) viaService() bool { return strings.HasPrefix(c.cfg.From, "MG") }

// newest is the most recently created of msgs from Herald's sender with
// the body text, created at from or later.
func (c *Client) newest(msgs []openapi.ApiV2010Message, text string, from time.Time) (comms.Receipt, bool) {
	var best comms.Receipt
	var bestAt time.Time
	found := false
	for _, msg := range msgs {
		if msg.Sid == nil || *msg.Sid == "" || msg.Body == nil || *msg.Body != text {
			continue
		}
		if c.viaService() && (msg.MessagingServiceSid == nil || *msg.MessagingServiceSid != c.cfg.From) {
			continue
		}
		if !c.viaService() && (msg.From == nil || *msg.From != c.cfg.From) {
			continue
		}
		if msg.DateCreated == nil {
			continue
		}
		created, err := time.Parse(time.RFC1123Z, *msg.DateCreated)
		if err != nil || created.Before(from.Truncate(time.Second)) {
			continue
		}
		if !found || created.After(bestAt) {
			best, bestAt, found = comms.Receipt{ProviderID: *msg.Sid}, created, true
		}
	}
	return best, found
}

// listError sorts a failed read into worth retrying or not. Unlike a send,
// a read is safe to repeat whatever happened to it.
func (c *Client) listError(ctx context.Context, rt *transport, err error) error {
	if rt.status == 0 || rt.status < 400 {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return fmt.Errorf("sms: list messages: %w", ctx.Err())
		}
		return &comms.TemporaryError{Err: fmt.Errorf("sms: list messages: %w", err)}
	}
	var apiErr error
	var rest *client.TwilioRestError
	if errors.As(err, &rest) {
		apiErr = &APIError{Status: rt.status, Code: rest.Code, Message: rest.Message, MoreInfo: rest.MoreInfo}
	} else {
		apiErr = &APIError{Status: rt.status, Message: http.StatusText(rt.status)}
	}
	if rt.status == http.StatusTooManyRequests || rt.status >= 500 {
		return &comms.TemporaryError{
			Err:        fmt.Errorf("sms: list messages: %w", apiErr),
			RetryAfter: comms.RetryAfter(rt.header.Get("Retry-After"), c.now()),
		}
	}
	return fmt.Errorf("sms: list messages: %w", apiErr)
}
