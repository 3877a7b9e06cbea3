package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
func (e *Engine) subscriberMessage(ctx context.Context, page pageReads, m comms.Message) (comms.Message, string, error) {
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
	if d.Channel == herald.ChannelWebhook {
		return e.webhookMessage(ctx, page, m, sub)
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
	base := e.publicBase()
	comps, err := page.components(ctx)
	if err != nil {
		return m, "", err
	}
	var names []string
	for _, c := range comps {
		if m.Incident.Affects(c.ID) {
			names = append(names, c.Name)
		}
	}
	mail := herald.RenderSubscriberMail(e.o.Plan.Page, m.Incident, up, names, herald.LinksFor(base, tok), e.loc)
	m.Delivery.Subject, m.Delivery.Body, m.Headers = mail.Subject, mail.Text, mail.Headers
	return m, "", nil
}

// publicBase is the public page's address, for links: the page's URL, or
// the console's when the page has none.
func (e *Engine) publicBase() string {
	base := e.o.Plan.Page.URL
	if base == "" {
		base = e.o.ConsoleURL
	}
	return strings.TrimRight(base, "/")
}

// webhookStore is what the engine needs for webhook subscribers; the
// store offers it.
type webhookStore interface {
	ComponentChange(ctx context.Context, changeID int64) (herald.ComponentChangeNotice, error)
	OpenIncidents(ctx context.Context) ([]herald.Incident, error)
	WebhookDelivered(ctx context.Context, subscriberID string) error
	WebhookGaveUp(ctx context.Context, subscriberID, deliveryID string, disableAfter int,
		notice func(herald.Subscriber) herald.Delivery) (bool, error)
}

// webhookMessage writes a webhook subscriber's notification: Statuspage's
// JSON for the incident as it stood after the update, or the component's
// change, with the page's status now, signed with the subscriber's secret when posted.
func (e *Engine) webhookMessage(ctx context.Context, page pageReads, m comms.Message, sub herald.Subscriber) (comms.Message, string, error) {
	st, ok := e.o.Store.(webhookStore)
	if !ok || e.o.Webhooks == nil {
		return m, "this Herald cannot write webhook notifications", nil
	}
	n := comms.WebhookNotice{}
	d := m.Delivery
	if changeID, isChange := herald.ParseComponentChangeRef(d.UpdateID); isChange {
		c, err := st.ComponentChange(ctx, changeID)
		if errors.Is(err, herald.ErrNotFound) {
			return m, "the component's change is gone", nil
		}
		if err != nil {
			return m, "", err
		}
		if !sub.Follows(c.ComponentID) {
			return m, "the subscriber no longer follows this component", nil
		}
		n.Change = &c
	} else {
		if !sub.Wants(m.Incident) {
			return m, "the subscriber no longer follows these components", nil
		}
		// The update this notification tells, even when a later one was
		// posted before it went (a retry after a 429, a resumed fan-out):
		// under its Idempotency-Key the content never changes.
		in, ok := m.Incident.AsOf(d.UpdateID)
		if !ok {
			return m, "the update is gone", nil
		}
		n.Incident = &in
	}
	comps, err := page.components(ctx)
	if err != nil {
		return m, "", err
	}
	open, err := page.openIncidents(ctx, st)
	if err != nil {
		return m, "", err
	}
	for _, in := range open {
		if !in.Drill {
			n.Open = append(n.Open, in)
		}
	}
	n.Components = comps
	tok, err := e.o.Store.(subscriberStore).SubscriberLinkToken(ctx, sub.ID)
	if err != nil {
		return m, "", err
	}
	n.Unsubscribe = herald.LinksFor(e.publicBase(), tok).Unsubscribe
	body, err := e.o.Webhooks.Render(n)
	if err != nil {
		return m, "", fmt.Errorf("engine: webhook notification: %w", err)
	}
	m.Delivery.Body, m.Secret = string(body), sub.WebhookSecret
	return m, "", nil
}

// webhookDelivered starts a webhook's count of failures again.
func (e *Engine) webhookDelivered(ctx context.Context, d herald.Delivery) error {
	st, ok := e.o.Store.(webhookStore)
	if !ok {
		return nil
	}
	return st.WebhookDelivered(ctx, d.SubscriberID)
}

// webhookGaveUp counts a notification given up against its webhook: after
// too many in a row, the store disables it and its owner is told by mail.
func (e *Engine) webhookGaveUp(ctx context.Context, log *slog.Logger, d herald.Delivery, cause error) error {
	st, ok := e.o.Store.(webhookStore)
	if !ok {
		return nil
	}
	after := e.o.WebhookDisableAfter
	if after <= 0 {
		after = herald.WebhookDisableAfter
	}
	subscribe := ""
	if base := e.publicBase(); base != "" {
		subscribe = base + "/subscribe?via=webhook"
	}
	disabled, err := st.WebhookGaveUp(ctx, d.SubscriberID, d.ID, after, func(sub herald.Subscriber) herald.Delivery {
		subject, text := herald.RenderWebhookDisabledMail(e.o.Plan.Page, sub, sub.Failures, cause.Error(), subscribe)
		return herald.Delivery{Subject: subject, Body: text}
	})
	if err != nil {
		return err
	}
	if disabled {
		log.Warn("webhook subscription disabled after failing again and again", "subscriber_id", d.SubscriberID,
			"endpoint", herald.EndpointHost(d.Recipient), "failures_in_a_row", after)
	}
	return nil
}
