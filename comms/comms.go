// Package comms holds Herald's channels, one adapter package each
// (comms/slack, comms/email, comms/sms, comms/pagerduty), and, later, the
// cadence engine that drives them. Adapters speak their vendor's wire format
// through the vendor's own client library, with an injectable base URL and
// *http.Client so tests run them against local servers that answer like the
// vendor does.
package comms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kredete/herald"
)

// ErrNoRecipient means the person has no account on the channel (no Slack
// member with that email): a message to them there cannot be delivered,
// however often it is tried. A reminder that also goes by other channels is
// skipped on this one rather than reported as a failure.
var ErrNoRecipient = errors.New("the recipient has no account on this channel")

// TemporaryError is a failure worth retrying: a rate limit (with the
// vendor's Retry-After), a 5xx, a timeout or a refused connection.
type TemporaryError struct {
	Err        error
	RetryAfter time.Duration // 0: use the engine's backoff
}

func (e *TemporaryError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.RetryAfter)
	}
	return e.Err.Error()
}

func (e *TemporaryError) Unwrap() error { return e.Err }

// Retryable reports whether err is worth retrying, and after how long the
// vendor asked to wait (0 when it did not say).
func Retryable(err error) (bool, time.Duration) {
	var te *TemporaryError
	if errors.As(err, &te) {
		return true, te.RetryAfter
	}
	return false, 0
}

// Receipt is what a vendor said when it accepted a message.
type Receipt struct {
	ProviderID string // Slack ts, Twilio SID, SMTP Message-ID
	Channel    string // Slack channel id, when the vendor resolves it
}

// Message is one delivery with what a channel needs to render it: the
// incident as it stands, its components and its commander.
type Message struct {
	Delivery   herald.Delivery
	Incident   herald.Incident
	Components map[string]herald.Component
	Commander  string // display name, "" when unassigned
	// ThreadChannel and ThreadTS locate the incident's Slack thread for a
	// reply or an edit of its parent.
	ThreadChannel string
	ThreadTS      string
	// Headers are extra header fields an email carries: a subscriber mail's
	// List-Unsubscribe and List-Unsubscribe-Post (RFC 8058).
	Headers map[string]string
	// Secret signs a webhook subscriber's notification (its body is
	// Delivery.Body). It is never logged.
	Secret string
}

// Channel sends deliveries through one vendor. Each adapter package
// implements it; the engine sends through it and never sees the vendor.
// Deliver returns a *TemporaryError for a failure worth retrying.
type Channel interface {
	Deliver(ctx context.Context, m Message) (Receipt, error)
}

// Reconciler is a channel whose vendor can be asked whether it already
// accepted a delivery. The engine asks before sending again a delivery whose
// last attempt was interrupted (the process died after the vendor accepted
// the message and before Herald recorded it): a message found is recorded
// as sent, not sent twice.
//
// Slack (message metadata naming the delivery) and Twilio (the account's
// message list) implement it. Email does not: SMTP cannot be asked what a
// server accepted. A resent email carries the same Message-ID
// (<delivery-id@domain>), so mail clients and archives that deduplicate by
// Message-ID collapse the rare copy.
type Reconciler interface {
	// Delivered reports whether the vendor accepted m's delivery in an
	// attempt that started at since or later, and its receipt if so. since
	// is Herald's clock: implementations allow for a vendor clock a little
	// apart. A *TemporaryError means the vendor could not be asked now (ask
	// again later); another error that it cannot be asked at all (a missing
	// permission), and the caller sends again rather than stay silent.
	Delivered(ctx context.Context, m Message, since time.Time) (Receipt, bool, error)
}

// RetryAfter reads a vendor's Retry-After header: seconds or an HTTP date
// (0 when absent, unreadable or past).
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Redacted is how a secret prints in a configuration: `""` when unset,
// else [redacted].
func Redacted(secret string) string {
	if secret == "" {
		return `""`
	}
	return "[redacted]"
}

// WebhookNotice is what one webhook subscriber's notification tells: an
// incident's (or a maintenance's) update, or a component's change of
// status, with what the page shows now.
type WebhookNotice struct {
	// Incident is the incident as it is after the update; nil for a
	// component's change.
	Incident *herald.Incident
	// Change is the component's change of status; nil for an incident.
	Change *herald.ComponentChangeNotice
	// Components are every component as it is now.
	Components []herald.Component
	// Open are the open incidents and maintenances: with Components, the
	// page's overall status.
	Open []herald.Incident
	// Unsubscribe is the subscriber's one-click unsubscribe link.
	Unsubscribe string
}

// WebhookRenderer writes a webhook notification's body (comms/webhook's,
// Statuspage's JSON).
type WebhookRenderer interface {
	Render(n WebhookNotice) ([]byte, error)
}
