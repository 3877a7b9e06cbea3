// Package engine is Herald's cadence engine: it sends the deliveries the
// store queues (through River, claimed once across replicas), retries them
// with backoff, gives up after a bound and says so, and keeps the plan's
// clocks: reminders before due, holding updates and escalation at due.
//
// The clocks are pure functions of the plan and the stored history
// (herald.Obligations); the engine only wakes when the next step is due or
// something changed, never on a fixed tick.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
)

// Store is what the engine reads and writes.
type Store interface {
	Delivery(ctx context.Context, id string) (herald.Delivery, error)
	StartAttempt(ctx context.Context, id string) (herald.Delivery, error)
	FinishAttempt(ctx context.Context, id string, state herald.DeliveryState, providerID, problem string) error
	EarlierPending(ctx context.Context, d herald.Delivery) (bool, error)
	SlackThread(ctx context.Context, incidentID, channel string) (channelID, ts string, ok bool, err error)
	SaveSlackThread(ctx context.Context, incidentID, channel, channelID, ts string) error
	QueueOnce(ctx context.Context, key, incidentID string, ds []herald.Delivery) (bool, error)
	RecordHolding(ctx context.Context, key, incidentID, audience, body string) (bool, error)

	Incident(ctx context.Context, id string) (herald.Incident, error)
	IncidentsOwed(ctx context.Context) ([]herald.Incident, error)
	RegulatorReports(ctx context.Context, incidentIDs []string) ([]herald.RegulatorReport, error)
	Components(ctx context.Context) ([]herald.Component, error)
	Communications(ctx context.Context, incidentIDs []string) ([]herald.Communication, error)
	Assignments(ctx context.Context, incidentID string) (map[herald.IncidentRole]herald.Assignment, error)
	User(ctx context.Context, id string) (herald.User, error)
}

// Options configure the engine.
type Options struct {
	Plan        herald.Plan
	Store       Store
	Channels    map[herald.Channel]comms.Channel // missing channels fail their deliveries with a clear reason
	Logger      *slog.Logger
	Now         func() time.Time
	MaxAttempts int            // tries before giving up; 8 when 0
	ConsoleURL  string         // the console's base URL, for links in reminders
	Location    *time.Location // the zone times are written in; UTC when nil
	// RetryFor keeps a delivery failing temporarily (a vendor down, rate
	// limiting or answering 5xx) in retry until this long after it was
	// queued, however many tries that takes: an outage shorter than it
	// loses nothing. 0: MaxAttempts alone bounds the tries.
	RetryFor time.Duration
	// Changes signals that the stored history changed (a new update, a
	// role): the engine recomputes its clocks at once.
	Changes <-chan struct{}
	// SubscriberRates caps, per channel, the subscriber messages this
	// process sends per second; a channel not listed is not capped.
	SubscriberRates map[herald.Channel]float64
	// Busy, when set, tells whether the process is short of processor
	// time (Pressure.Busy): subscriber messages then go at most
	// BusyRate a second per channel, so that the status page, flooded
	// during an outage, keeps the processor. The plan's own messages are
	// never slowed. BusyRate 0: not slowed.
	Busy     func() bool
	BusyRate float64
	// Webhooks writes webhook subscribers' notifications; without it they
	// are skipped with the reason.
	Webhooks comms.WebhookRenderer
	// WebhookDisableAfter is how many notifications in a row, each given
	// up, disable a webhook subscription; herald.WebhookDisableAfter when 0.
	WebhookDisableAfter int
	// Metrics counts settled attempts and late clock steps; nil: not
	// counted.
	Metrics Metrics
}

// Metrics is what the engine reports for monitoring (/metrics).
type Metrics interface {
	// Settled counts one delivery attempt recorded with its result:
	// sent, retrying, failed (given up) or skipped.
	Settled(channel herald.Channel, result herald.DeliveryState)
	// Fired records how long after its time a clock step (a reminder, an
	// escalation, a holding update) was carried out by this process.
	Fired(kind herald.ReminderKind, late time.Duration)
}

// noMetrics counts nothing.
type noMetrics struct{}

func (noMetrics) Settled(herald.Channel, herald.DeliveryState) {}
func (noMetrics) Fired(herald.ReminderKind, time.Duration)     {}

// Engine sends deliveries and keeps the clocks.
type Engine struct {
	o      Options
	log    *slog.Logger
	now    func() time.Time
	loc    *time.Location
	clocks clockMemo // what the clocks remember between wakes (clocks.go)
	// waiters bounds the workers that wait in place for an earlier
	// delivery to the same place (see Deliver).
	waiters chan struct{}
	rates   rateLimits
	page    pageCache // what subscriber messages read, per page version
}

// New makes an engine.
func New(o Options) *Engine {
	e := &Engine{o: o, log: o.Logger, now: o.Now, loc: o.Location, waiters: make(chan struct{}, maxWaiters),
		rates: newRateLimits(o.SubscriberRates, o.BusyRate)}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.loc == nil {
		e.loc = time.UTC
	}
	if e.o.MaxAttempts == 0 {
		e.o.MaxAttempts = 8
	}
	if e.o.Metrics == nil {
		e.o.Metrics = noMetrics{}
	}
	return e
}

// finish records an attempt's result, and counts it once recorded.
func (e *Engine) finish(ctx context.Context, d herald.Delivery, state herald.DeliveryState, providerID, problem string) error {
	if err := e.o.Store.FinishAttempt(ctx, d.ID, state, providerID, problem); err != nil {
		return err
	}
	e.o.Metrics.Settled(d.Channel, state)
	return nil
}

// orderWait is how long a delivery waits for an earlier one to the same
// place (a Slack thread, a phone) before looking again.
const orderWait = 250 * time.Millisecond

// A delivery behind an earlier one to the same place waits for it in place
// (looking every orderPoll, for up to inPlaceWait) when one of maxWaiters
// slots is free: a burst of thread replies then goes out back to back
// instead of one per queue poll. Otherwise, or after that, it goes back to
// the queue for orderWait, leaving the workers to other deliveries.
const (
	maxWaiters  = 2
	orderPoll   = 20 * time.Millisecond
	inPlaceWait = 3 * time.Second
)

// waitForEarlier reports whether an earlier delivery to the same place is
// still pending, after waiting in place for it when a slot is free.
func (e *Engine) waitForEarlier(ctx context.Context, d herald.Delivery) (bool, error) {
	earlier, err := e.o.Store.EarlierPending(ctx, d)
	if err != nil || !earlier {
		return earlier, err
	}
	select {
	case e.waiters <- struct{}{}:
		defer func() { <-e.waiters }()
	default:
		return true, nil
	}
	deadline := time.NewTimer(inPlaceWait)
	defer deadline.Stop()
	tick := time.NewTicker(orderPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-deadline.C:
			return true, nil
		case <-tick.C:
		}
		if earlier, err = e.o.Store.EarlierPending(ctx, d); err != nil || !earlier {
			return earlier, err
		}
	}
}

// Deliver sends one delivery; it is the queue's work function. It returns
// nil once the delivery is in a final state, a *herald.RetryLater to wait
// (for an earlier message, or a vendor's Retry-After), or an error to be
// retried with backoff.
func (e *Engine) Deliver(ctx context.Context, id string) error {
	d, err := e.o.Store.Delivery(ctx, id)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if d.State.Final() {
		return nil
	}
	log := e.log.With("delivery_id", d.ID, "incident_id", d.IncidentID, "channel", d.Channel, "kind", d.Kind)
	// Order within a thread and to one person: wait for earlier ones. A
	// subscriber delivery does not: its queue is first in, first out, and
	// the check would read every earlier delivery of a fan-out (a hundred
	// thousand rows) for each subscriber.
	if d.Kind != herald.KindSubscriber {
		if earlier, err := e.waitForEarlier(ctx, d); err != nil {
			return err
		} else if earlier {
			return &herald.RetryLater{After: orderWait, Err: errors.New("waiting for an earlier delivery to the same place")}
		}
	}
	msg, skip, err := e.message(ctx, d)
	if err != nil {
		return err
	}
	if skip != "" {
		log.Info("delivery skipped", "reason", skip)
		return e.finish(ctx, d, herald.DeliverySkipped, "", skip)
	}
	ch, ok := e.o.Channels[d.Channel]
	if !ok || ch == nil {
		return e.giveUp(ctx, log, d, fmt.Errorf("the %s channel is not configured", d.Channel))
	}
	if d.Kind == herald.KindSubscriber {
		// Subscribers are told at the configured rate per channel, so a
		// fan-out stays within the mail relay's and Twilio's limits.
		if err := e.rates.wait(ctx, d.Channel, e.o.Busy != nil && e.o.Busy()); err != nil {
			return err
		}
	}
	if d, err = e.o.Store.StartAttempt(ctx, d.ID); err != nil {
		return err
	}
	if d.State.Final() {
		return nil
	}
	if d.State == herald.DeliverySending {
		// The last attempt stopped mid-send (the process died): the vendor
		// may or may not have it. Ask the vendor where it can be asked.
		if done, err := e.reconcile(ctx, log, ch, msg, d); done || err != nil {
			return err
		}
	}
	rec, err := ch.Deliver(ctx, msg)
	attempt := d.Attempts + 1
	if err != nil && ctx.Err() != nil {
		// The job's own time ran out (or the process is stopping), not
		// the vendor's answer: nothing can be recorded with this context.
		// The delivery stays "sending", and the queue's next attempt
		// settles it as an interrupted one.
		log.Warn("delivery attempt cut short; will retry", "attempt", attempt, "error", err.Error())
		return fmt.Errorf("engine: attempt cut short: %w", ctx.Err())
	}
	if err == nil {
		if d.Kind == herald.KindSubscriber {
			// A hundred thousand lines per update would drown the log:
			// the fan-out's progress is in the console and the store.
			log.Debug("delivered", "provider_id", rec.ProviderID, "attempt", attempt)
		} else {
			log.Info("delivered", "provider_id", rec.ProviderID, "attempt", attempt)
		}
		return e.recordSent(ctx, log, func() error {
			if d.Kind == herald.KindSubscriber && d.Channel == herald.ChannelWebhook {
				if err := e.webhookDelivered(ctx, d); err != nil {
					return err
				}
			}
			if msg.Delivery.Kind == herald.KindThread {
				if err := e.o.Store.SaveSlackThread(ctx, d.IncidentID, d.Recipient, rec.Channel, rec.ProviderID); err != nil {
					return err
				}
			}
			return e.finish(ctx, d, herald.DeliverySent, rec.ProviderID, "")
		})
	}
	if errors.Is(err, comms.ErrNoRecipient) && (d.Kind == herald.KindReminder || d.Kind == herald.KindFailure) {
		// A reminder to someone without an account here also went by the
		// audience's other channels: not a failure worth a report.
		log.Info("delivery skipped", "reason", err.Error())
		return e.finish(ctx, d, herald.DeliverySkipped, "", err.Error())
	}
	retry, after := comms.Retryable(err)
	if !retry || e.exhausted(d, attempt) {
		return e.giveUp(ctx, log, d, err)
	}
	log.Warn("delivery failed; will retry", "attempt", attempt, "error", err.Error())
	if ferr := e.finish(ctx, d, herald.DeliveryRetrying, "", err.Error()); ferr != nil {
		return ferr
	}
	if after > 0 {
		return &herald.RetryLater{After: after, Err: err}
	}
	return err
}

// recordWait bounds the wait between two tries of recordSent's writes.
const recordWait = 2 * time.Second

// recordSent runs write, which records a message the vendor accepted, until
// it succeeds or the attempt's time runs out. The message is out: were the
// write lost (the database restarting), the delivery would stay "sending"
// and the next attempt would send it again where the vendor cannot be
// asked (email). write must be idempotent.
func (e *Engine) recordSent(ctx context.Context, log *slog.Logger, write func() error) error {
	wait := 50 * time.Millisecond
	for {
		err := write()
		if err == nil || ctx.Err() != nil || errors.Is(err, herald.ErrNotFound) {
			return err
		}
		log.Warn("could not record a delivery the vendor accepted; trying again", "error", err.Error(), "retry_in", wait)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, recordWait)
	}
}

// exhausted reports whether a delivery that failed temporarily on its
// attempt-th try is given up: it has had MaxAttempts tries and, with
// RetryFor, has been on its way for RetryFor since it was queued.
func (e *Engine) exhausted(d herald.Delivery, attempt int) bool {
	if attempt < e.o.MaxAttempts {
		return false
	}
	return e.o.RetryFor <= 0 || e.now().Sub(d.CreatedAt) >= e.o.RetryFor
}

// providerIDs is the store's check that a vendor's id found while
// reconciling is not already another delivery's (store.Store has it).
type providerIDs interface {
	ProviderIDUsed(ctx context.Context, channel herald.Channel, providerID, exceptID string) (bool, error)
}

// reconcile settles a delivery whose last attempt was interrupted after it
// was handed to the vendor (d as it was before this attempt). When the
// channel can ask the vendor (comms.Reconciler) and the vendor has the
// message, it records the delivery as sent with the vendor's id and reports
// done: the message is not sent twice. When the vendor could not be asked
// for now, it returns an error to try again later, the delivery staying
// "sending" so that the next attempt asks again. Otherwise (not found, a
// channel that cannot be asked such as email, a vendor refusing the
// question, or no attempts left) the caller sends again: a copy is better
// than silence during an outage, and email carries the same Message-ID.
func (e *Engine) reconcile(ctx context.Context, log *slog.Logger, ch comms.Channel, msg comms.Message, d herald.Delivery) (bool, error) {
	r, ok := ch.(comms.Reconciler)
	if !ok {
		log.Warn("delivery resumed after an interrupted attempt; the channel cannot tell whether it was sent, so it is sent again")
		return false, nil
	}
	// Every attempt started after the delivery was written, the
	// interrupted ones included (a process may also have died while
	// asking, so the latest start is not enough).
	rec, found, err := r.Delivered(ctx, msg, d.CreatedAt)
	if err != nil {
		retry, after := comms.Retryable(err)
		if retry && !e.exhausted(d, d.Attempts+1) {
			log.Warn("could not ask the vendor about an interrupted attempt; will ask again", "error", err.Error())
			err = fmt.Errorf("engine: ask about an interrupted attempt: %w", err)
			if after > 0 {
				return false, &herald.RetryLater{After: after, Err: err}
			}
			return false, err
		}
		log.Warn("could not ask the vendor about an interrupted attempt; sending again", "error", err.Error())
		return false, nil
	}
	if found {
		if p, ok := e.o.Store.(providerIDs); ok {
			used, err := p.ProviderIDUsed(ctx, d.Channel, rec.ProviderID, d.ID)
			if err != nil {
				return false, err
			}
			if used {
				// An earlier delivery's message (the same text to the
				// same phone): not this one's.
				found = false
			}
		}
	}
	if !found {
		log.Warn("delivery resumed after an interrupted attempt that did not reach the vendor")
		return false, nil
	}
	if msg.Delivery.Kind == herald.KindThread {
		if err := e.o.Store.SaveSlackThread(ctx, d.IncidentID, d.Recipient, rec.Channel, rec.ProviderID); err != nil {
			return false, err
		}
	}
	log.Info("delivered by an interrupted attempt; recorded, not sent again", "provider_id", rec.ProviderID,
		"attempt", d.Attempts+1)
	return true, e.finish(ctx, d, herald.DeliverySent, rec.ProviderID, "")
}

// message gathers what the channel needs; skip says why the delivery is no
// longer needed.
func (e *Engine) message(ctx context.Context, d herald.Delivery) (comms.Message, string, error) {
	if d.Kind == herald.KindSubscriber {
		// One fan-out's messages read the same page: through the cache.
		page, err := e.pageReads(ctx)
		if err != nil {
			return comms.Message{}, "", err
		}
		m := comms.Message{Delivery: d}
		if d.IncidentID != "" {
			if m.Incident, err = page.incident(ctx, d.IncidentID); err != nil {
				return comms.Message{}, "", err
			}
		}
		return e.subscriberMessage(ctx, page, m)
	}
	var in herald.Incident
	if d.IncidentID != "" {
		var err error
		if in, err = e.o.Store.Incident(ctx, d.IncidentID); err != nil {
			return comms.Message{}, "", err
		}
	}
	m := comms.Message{Delivery: d, Incident: in}
	if d.IncidentID == "" {
		return m, "", nil // a notice about a subscription, written when queued
	}
	if d.Kind == herald.KindReminder && d.ObligationKey != "" {
		if stale, err := e.stale(ctx, in, d); err != nil {
			return m, "", err
		} else if stale {
			return m, "the obligation it reminds about was met or moved", nil
		}
	}
	if d.Channel == herald.ChannelSlack {
		comps, err := e.o.Store.Components(ctx)
		if err != nil {
			return m, "", err
		}
		m.Components = make(map[string]herald.Component, len(comps))
		for _, c := range comps {
			m.Components[c.ID] = c
		}
		roles, err := e.o.Store.Assignments(ctx, in.ID)
		if err != nil {
			return m, "", err
		}
		m.Commander = roles[herald.SeatCommander].UserName
		if d.Kind == herald.KindReply || d.Kind == herald.KindEdit {
			chID, ts, ok, err := e.o.Store.SlackThread(ctx, in.ID, d.Recipient)
			if err != nil {
				return m, "", err
			}
			if !ok {
				// The parent was given up: post the reply on its own
				// rather than lose it.
				if d.Kind == herald.KindEdit {
					return m, "the incident has no thread to edit", nil
				}
				m.Delivery.Kind = herald.KindThread
			}
			m.ThreadChannel, m.ThreadTS = chID, ts
		}
	}
	return m, "", nil
}

// stale reports whether a reminder's obligation no longer stands: the
// audience was told since, or the incident closed.
func (e *Engine) stale(ctx context.Context, in herald.Incident, d herald.Delivery) (bool, error) {
	told, err := e.o.Store.Communications(ctx, []string{in.ID})
	if err != nil {
		return false, err
	}
	reports, err := e.o.Store.RegulatorReports(ctx, []string{in.ID})
	if err != nil {
		return false, err
	}
	for _, ob := range herald.Obligations(e.o.Plan, in, told, reports) {
		if ob.Key() == d.ObligationKey {
			return false, nil
		}
	}
	return true, nil
}

// giveUp marks the delivery failed and tells the commander through another
// channel.
func (e *Engine) giveUp(ctx context.Context, log *slog.Logger, d herald.Delivery, cause error) error {
	log.Error("delivery given up", "attempts", d.Attempts, "error", cause.Error())
	if d.Kind == herald.KindSubscriber && d.Channel == herald.ChannelWebhook {
		// Before the delivery is marked failed, so a stop in between
		// counts the failure at the retry (once: by the delivery's id).
		if err := e.webhookGaveUp(ctx, log, d, cause); err != nil {
			return err
		}
	}
	if d.Kind == herald.KindFailure || d.Kind == herald.KindSubscriber || d.Kind == herald.KindSubscriberNotice {
		// Never a report about a report; and one subscriber's bounced
		// address is the delivery log's to show, not the commander's to
		// hear about (a fan-out can fail thousands of times).
		return e.finish(ctx, d, herald.DeliveryFailed, "", cause.Error())
	}
	// The report is queued (once, by key) before the delivery is marked
	// failed: a process that stops in between retries the job and queues
	// nothing twice, where the other order would lose the report.
	text := fmt.Sprintf("Herald could not deliver %s to %s%s: %v. Check the delivery log in the console.",
		failedWhat(d), recipientShown(d), audienceShown(d), cause)
	ds, err := e.toPeople(ctx, d.IncidentID, []herald.IncidentRole{herald.SeatCommander}, nil,
		otherChannels(d.Channel), herald.KindFailure, "Delivery failed", text, "failure/"+d.ID)
	if err != nil {
		return err
	}
	if _, err := e.o.Store.QueueOnce(ctx, d.IncidentID+"/failure/"+d.ID, d.IncidentID, ds); err != nil {
		return err
	}
	return e.finish(ctx, d, herald.DeliveryFailed, "", cause.Error())
}

func otherChannels(failed herald.Channel) []herald.Channel {
	var out []herald.Channel
	for _, c := range []herald.Channel{herald.ChannelSlack, herald.ChannelSMS, herald.ChannelEmail} {
		if c != failed {
			out = append(out, c)
		}
	}
	return out
}

// toPeople addresses a message to the holders of seats and to contacts on
// the given channels (Slack direct message and email by the person's email,
// SMS by phone), skipping channels not configured.
func (e *Engine) toPeople(ctx context.Context, incidentID string, seats []herald.IncidentRole, contacts []herald.Contact,
	channels []herald.Channel, kind herald.DeliveryKind, subject, body, key string) ([]herald.Delivery, error) {
	roles, err := e.o.Store.Assignments(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	type person struct{ email, phone, slack string }
	var people []person
	seen := map[string]bool{}
	for _, seat := range seats {
		a, ok := roles[seat]
		if !ok || seen[a.UserID] {
			continue
		}
		seen[a.UserID] = true
		u, err := e.o.Store.User(ctx, a.UserID)
		if err != nil {
			if errors.Is(err, herald.ErrNotFound) {
				continue
			}
			return nil, err
		}
		people = append(people, person{u.Email, u.Phone, u.SlackUserID})
	}
	for _, c := range contacts {
		people = append(people, person{c.Email, c.Phone, ""})
	}
	var ds []herald.Delivery
	for _, p := range people {
		for _, ch := range channels {
			if _, ok := e.o.Channels[ch]; !ok {
				continue
			}
			to := p.email
			switch {
			case ch == herald.ChannelSMS:
				to = p.phone
			case ch == herald.ChannelSlack && herald.IsSlackMemberID(p.slack):
				// Linked by hand or by a verified email: the member
				// itself, whatever email Slack has for them.
				to = p.slack
			}
			if to == "" {
				continue
			}
			ds = append(ds, herald.Delivery{Channel: ch, Kind: kind, Recipient: to, Subject: subject, Body: body,
				Key: incidentID + "/" + key + "/" + string(ch) + "/" + to})
		}
	}
	return ds, nil
}

// failedWhat names what was not delivered, for the report to the commander.
func failedWhat(d herald.Delivery) string {
	switch d.Channel {
	case herald.ChannelAutomation:
		return "the call to a failover action's automation"
	case herald.ChannelPagerDuty:
		return "a PagerDuty event"
	}
	return "a " + string(d.Channel) + " message"
}

// recipientShown is where it was going, without what may be secret: an
// automation URL's path and query can carry a token, so only its host is
// shown.
func recipientShown(d herald.Delivery) string {
	if d.Channel == herald.ChannelAutomation {
		return herald.EndpointHost(d.Recipient)
	}
	return d.Recipient
}

func audienceShown(d herald.Delivery) string {
	if d.Audience == "" {
		return ""
	}
	return " (" + d.Audience + ")"
}
