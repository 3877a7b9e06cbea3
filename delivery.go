package herald

import (
	"fmt"
	"time"
)

// DeliveryState is where one message is on its way to one recipient.
type DeliveryState string

// The delivery states.
const (
	DeliveryQueued   DeliveryState = "queued"   // written with its cause, waiting for a worker
	DeliverySending  DeliveryState = "sending"  // a worker is handing it to the vendor
	DeliverySent     DeliveryState = "sent"     // the vendor accepted it (ProviderID set)
	DeliveryRetrying DeliveryState = "retrying" // the last attempt failed; another is scheduled
	DeliveryFailed   DeliveryState = "failed"   // given up; shown in the console, the commander told
	DeliverySkipped  DeliveryState = "skipped"  // no longer needed: a stale reminder, a superseded edit
)

// Final says the delivery will not be tried again.
func (s DeliveryState) Final() bool {
	return s == DeliverySent || s == DeliveryFailed || s == DeliverySkipped
}

// DeliveryKind says what a delivery does.
type DeliveryKind string

// The delivery kinds.
const (
	KindThread   DeliveryKind = "thread"   // Slack: post the incident's thread parent
	KindEdit     DeliveryKind = "edit"     // Slack: edit the parent in place to the current state
	KindReply    DeliveryKind = "reply"    // Slack: a reply in the incident's thread
	KindMessage  DeliveryKind = "message"  // an email or SMS to one recipient
	KindHolding  DeliveryKind = "holding"  // an automatic holding update to one recipient
	KindReminder DeliveryKind = "reminder" // a reminder or escalation to one person
	KindFailure  DeliveryKind = "failure"  // tells the commander that a delivery was given up

	KindPageTrigger DeliveryKind = "page_trigger" // PagerDuty Events API v2: trigger (dedup_key = the incident's id)
	KindPageResolve DeliveryKind = "page_resolve" // PagerDuty Events API v2: resolve
	KindAutomation  DeliveryKind = "automation"   // a signed call to a failover action's automation endpoint

	// KindSubscriberNotice tells a subscription's owner about the
	// subscription itself (a webhook disabled after failing): it belongs
	// to no incident.
	KindSubscriberNotice DeliveryKind = "subscriber_notice"
)

// Delivery channels that are not audience channels: they carry Herald's
// own traffic to PagerDuty and to automation endpoints, never an
// audience's messages, so a plan cannot name them.
const (
	ChannelPagerDuty  Channel = "pagerduty"
	ChannelAutomation Channel = "automation"
	// ChannelWebhook posts a status page notification to a webhook
	// subscriber's URL.
	ChannelWebhook Channel = "webhook"
)

// Delivery is one message to one recipient through one channel: the unit the
// engine sends, retries and logs.
type Delivery struct {
	ID              string
	IncidentID      string // "" for a delivery of no incident (a component's change, a notice to a subscriber)
	CommunicationID string // the communication it carries, if any
	Audience        string
	Channel         Channel
	Kind            DeliveryKind
	Recipient       string // Slack channel, email address, phone number
	Subject         string
	Body            string
	Key             string // idempotency key: one delivery per key, ever
	Seq             int64  // order of writing; Slack replies go out in this order
	State           DeliveryState
	Attempts        int
	ProviderID      string // Slack ts, SMTP Message-ID, Twilio SID
	ProviderStatus  string // Twilio's later status: delivered, undelivered...
	LastError       string
	ObligationKey   string     // reminders: the obligation they are about
	SubscriberID    string     // a subscriber delivery: whom it tells
	UpdateID        string     // a subscriber delivery: the public update it tells, or a ComponentChangeRef
	DueAt           *time.Time // reminders: when that obligation was due
	CreatedAt       time.Time
	UpdatedAt       time.Time
	SentAt          *time.Time
}

// RetryLater is an error that asks for the delivery to be tried again after
// After (a vendor's Retry-After, or the wait for an earlier message).
type RetryLater struct {
	After time.Duration
	Err   error
}

func (e *RetryLater) Error() string {
	return fmt.Sprintf("retry in %s: %v", e.After, e.Err)
}

func (e *RetryLater) Unwrap() error { return e.Err }

// Fanout expands a message to an audience into one delivery per channel and
// recipient, as the plan says: email to each address, SMS to each phone, a
// reply in the incident's Slack thread. The status page and phone calls
// are not delivered by Herald (the update is the page; a call is recorded).
// The key is the prefix of each delivery's idempotency key.
func Fanout(a Audience, kind DeliveryKind, key, subject, body string) []Delivery {
	var out []Delivery
	for _, ch := range a.Channels {
		switch ch {
		case ChannelSlack:
			if a.Recipients.SlackChannel != "" {
				out = append(out, Delivery{Audience: a.Key, Channel: ch, Kind: KindReply, Recipient: a.Recipients.SlackChannel,
					Subject: subject, Body: body, Key: key + "/slack/" + a.Recipients.SlackChannel})
			}
		case ChannelEmail:
			for _, e := range a.Recipients.Emails {
				out = append(out, Delivery{Audience: a.Key, Channel: ch, Kind: kind, Recipient: e,
					Subject: subject, Body: body, Key: key + "/email/" + e})
			}
		case ChannelSMS:
			for _, p := range a.Recipients.Phones {
				out = append(out, Delivery{Audience: a.Key, Channel: ch, Kind: kind, Recipient: p,
					Subject: subject, Body: body, Key: key + "/sms/" + p})
			}
		}
	}
	return out
}

// ThreadAudience is the plan's real-time Slack audience, whose channel holds
// one thread per incident; false when the plan has none.
func (p Plan) ThreadAudience() (Audience, bool) {
	for _, a := range p.Audiences {
		if a.Cadence.Kind != RealTime || a.Recipients.SlackChannel == "" {
			continue
		}
		for _, ch := range a.Channels {
			if ch == ChannelSlack {
				return a, true
			}
		}
	}
	return Audience{}, false
}

// EngineActor is the name the cadence engine writes under.
const EngineActor = "Herald (automatic)"
