package pagerduty

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/kredete/herald"
)

// ReadWebhook verifies a webhook with the configured secrets and reads it
// into Herald's event. A forgery's error matches herald.ErrBadSignature
// (and ErrBadSignature); a malformed body's, ErrMalformed.
func ReadWebhook(r *http.Request, secrets []string) (herald.PagerDutyEvent, error) {
	if err := Verify(r, secrets); err != nil {
		if errors.Is(err, ErrBadSignature) {
			return herald.PagerDutyEvent{}, fmt.Errorf("%w: %w", herald.ErrBadSignature, err)
		}
		return herald.PagerDutyEvent{}, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	if err != nil {
		return herald.PagerDutyEvent{}, fmt.Errorf("%w: the body could not be read", ErrMalformed)
	}
	if len(body) > MaxWebhookBody {
		return herald.PagerDutyEvent{}, fmt.Errorf("%w: body over %d bytes", ErrMalformed, MaxWebhookBody)
	}
	ev, err := ParseWebhook(body)
	if err != nil {
		return herald.PagerDutyEvent{}, err
	}
	return herald.PagerDutyEvent{ID: ev.ID, Type: ev.EventType, OccurredAt: ev.OccurredAt, IncidentID: ev.IncidentID(),
		IncidentKey: ev.IncidentKey(), Number: ev.Number(), ServiceID: ev.ServiceID(), ServiceName: ev.ServiceName(),
		Title: ev.Title(), HTMLURL: ev.HTMLURL(), Priority: ev.Priority(), Urgency: ev.Urgency(), Status: ev.Status(),
		Agent: ev.Agent(), Assignees: ev.Assignees(), Note: ev.Note()}, nil
}
