package engine

import (
	"context"
	"errors"
	"strings"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
)

// subscriberStore is what the engine needs to tell a status-page
// subscriber; the store offers it.
type subscriberStore interface {
	SubscriberByID(ctx context.Context, id string) (herald.Subscriber, error)
	SubscriberLinkToken(ctx context.Context, subscriberID string) (string, error)
}

// subscriberMessage renders a subscriber delivery when it is sent: the
// update it tells, the components, and the subscriber's own signed manage
// and unsubscribe links. skip says why it is no longer needed: the
// subscriber left (or was disabled) after the fan-out wrote it, or stopped
// following those components.
func (e *Engine) subscriberMessage(ctx context.Context, m comms.Message) (comms.Message, string, error) {
	st, ok := e.o.Store.(subscriberStore)
	if !ok {
		return m, "this Herald cannot read subscribers", nil
	}
	d := m.Delivery
	sub, err := st.SubscriberByID(ctx, d.SubscriberID)
	if errors.Is(err, herald.ErrNotFound) {
		return m, "the subscriber was removed", nil
	}
	if err != nil {
		return m, "", err
	}
	if sub.State != herald.SubscriberConfirmed {
		return m, "the subscriber is " + string(sub.State) + " now", nil
	}
	if !sub.Wants(m.Incident) {
		return m, "the subscriber no longer follows these components", nil
	}
	var up herald.Update
	for _, u := range m.Incident.Updates {
		if u.ID == d.UpdateID {
			up = u
		}
	}
	if up.ID == "" {
		return m, "the update is gone", nil
	}
	switch d.Channel {
	case herald.ChannelSMS:
		m.Delivery.Subject, m.Delivery.Body = "", herald.RenderSubscriberText(e.o.Plan.Page, m.Incident, up)
		return m, "", nil
	case herald.ChannelEmail:
	default:
		return m, "subscribers are not told on " + string(d.Channel), nil
	}
	tok, err := st.SubscriberLinkToken(ctx, sub.ID)
	if err != nil {
		return m, "", err
	}
	base := e.o.Plan.Page.URL
	if base == "" {
		base = e.o.ConsoleURL
	}
	comps, err := e.o.Store.Components(ctx)
	if err != nil {
		return m, "", err
	}
	var names []string
	for _, c := range comps {
		if m.Incident.Affects(c.ID) {
			names = append(names, c.Name)
		}
	}
	mail := herald.RenderSubscriberMail(e.o.Plan.Page, m.Incident, up, names, herald.LinksFor(strings.TrimRight(base, "/"), tok), e.loc)
	m.Delivery.Subject, m.Delivery.Body, m.Headers = mail.Subject, mail.Text, mail.Headers
	return m, "", nil
}
