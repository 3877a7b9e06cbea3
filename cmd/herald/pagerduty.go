package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/pagerduty"
	"github.com/kredete/herald/config"
	"github.com/kredete/herald/handlers"
)

// pagerDutyWebhook verifies PagerDuty's webhooks with the configured
// secrets and reads them into Herald's event; nil when no secret is set
// (the endpoint answers 404).
func pagerDutyWebhook(cfg config.Config) handlers.PagerDutyWebhook {
	secrets := config.Reveal(cfg.PagerDutyWebhookSecrets)
	if len(secrets) == 0 {
		return nil
	}
	return func(r *http.Request) (herald.PagerDutyEvent, error) {
		if err := pagerduty.Verify(r, secrets); err != nil {
			if errors.Is(err, pagerduty.ErrBadSignature) {
				return herald.PagerDutyEvent{}, fmt.Errorf("%w: %v", handlers.ErrBadSignature, err)
			}
			return herald.PagerDutyEvent{}, err
		}
		body, err := readAll(r)
		if err != nil {
			return herald.PagerDutyEvent{}, err
		}
		ev, err := pagerduty.ParseWebhook(body)
		if err != nil {
			return herald.PagerDutyEvent{}, err
		}
		return herald.PagerDutyEvent{ID: ev.ID, Type: ev.EventType, OccurredAt: ev.OccurredAt, IncidentID: ev.IncidentID(),
			IncidentKey: ev.IncidentKey(), Number: ev.Number(), ServiceID: ev.ServiceID(), ServiceName: ev.ServiceName(),
			Title: ev.Title(), HTMLURL: ev.HTMLURL(), Priority: ev.Priority(), Urgency: ev.Urgency(), Status: ev.Status(),
			Agent: ev.Agent(), Assignees: ev.Assignees(), Note: ev.Note()}, nil
	}
}

// readAll reads the request body that Verify left in place, bounded as
// PagerDuty's own limit is.
func readAll(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, pagerduty.MaxWebhookBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: the body could not be read", pagerduty.ErrMalformed)
	}
	if len(b) > pagerduty.MaxWebhookBody {
		return nil, fmt.Errorf("%w: body over %d bytes", pagerduty.ErrMalformed, pagerduty.MaxWebhookBody)
	}
	return b, nil
}
