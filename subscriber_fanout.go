package herald

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SubscriberEvent is what a public update means to subscribers.
type SubscriberEvent string

// The subscriber events.
const (
	EventIncidentCreated   SubscriberEvent = "incident_created"
	EventIncidentUpdated   SubscriberEvent = "incident_updated"
	EventIncidentResolved  SubscriberEvent = "incident_resolved"
	EventMaintenanceNew    SubscriberEvent = "maintenance_scheduled"
	EventMaintenanceStart  SubscriberEvent = "maintenance_started"
	EventMaintenanceUpdate SubscriberEvent = "maintenance_updated"
	// EventComponentUpdated is a component's change of status, in an
	// incident's update or on its own: webhooks only.
	EventComponentUpdated SubscriberEvent = "component_updated"
)

// componentRefPrefix marks a fan-out (and its deliveries) telling a
// component's change of status rather than an incident's update.
const componentRefPrefix = "component/"

// ComponentChangeRef names a component status change (its id in the
// status history) where a fan-out names the update it tells.
func ComponentChangeRef(changeID int64) string {
	return componentRefPrefix + strconv.FormatInt(changeID, 10)
}

// ParseComponentChangeRef reads a ComponentChangeRef; ok is false for an
// update's id.
func ParseComponentChangeRef(ref string) (int64, bool) {
	rest, found := strings.CutPrefix(ref, componentRefPrefix)
	if !found {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}

// ComponentChangeNotice is one component's change of status as webhook
// subscribers are told of it: Statuspage's component_update.
type ComponentChangeNotice struct {
	ChangeID    int64
	ComponentID string
	Old, New    ComponentStatus
	At          time.Time
	IncidentID  string // the incident whose update changed it; "" for a change on its own
}

// KindSubscriber is a delivery telling one status-page subscriber of a
// public update; its text is rendered when it is sent.
const KindSubscriber DeliveryKind = "subscriber"

// SubscriberEventOf says what a public update of in means to subscribers:
// first is the incident's first update (its declaration). ok is false for
// a drill, which no subscriber hears of.
func SubscriberEventOf(in Incident, up Update, first bool) (SubscriberEvent, bool) {
	if in.Drill {
		return "", false
	}
	if in.Kind == KindMaintenance {
		switch {
		case first:
			return EventMaintenanceNew, true
		case up.Status == InProgress:
			return EventMaintenanceStart, true
		}
		return EventMaintenanceUpdate, true
	}
	switch {
	case first:
		return EventIncidentCreated, true
	case up.Status == Resolved:
		return EventIncidentResolved, true
	}
	return EventIncidentUpdated, true
}

// SubscriberChannelsFor lists the channels an event goes out on, as
// Atlassian Statuspage does: email on every public update, incident
// creation and resolution, maintenance announcements and starts; SMS only
// on incident creation and resolution and maintenance starts; webhooks on
// every public change.
func SubscriberChannelsFor(ev SubscriberEvent) []SubscriberChannel {
	switch ev {
	case EventComponentUpdated:
		return []SubscriberChannel{SubscriberWebhook}
	case EventIncidentCreated, EventIncidentResolved, EventMaintenanceStart:
		return []SubscriberChannel{SubscriberEmail, SubscriberSMS, SubscriberWebhook}
	}
	return []SubscriberChannel{SubscriberEmail, SubscriberWebhook}
}

// SubscriberMail is one subscriber's message about one update.
type SubscriberMail struct {
	Subject string
	Text    string
	Headers map[string]string
}

// RenderSubscriberMail writes the email telling a subscriber of an update:
// what happened, the components, the time in the page's zone, and the
// links to the incident, to manage the subscription and to unsubscribe
// (also as List-Unsubscribe headers, RFC 8058).
func RenderSubscriberMail(page Page, in Incident, up Update, components []string, links SubscriptionLinks, loc *time.Location) SubscriberMail {
	if loc == nil {
		loc = time.UTC
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s\n\n", in.Name, up.Status.Label())
	b.WriteString(strings.TrimSpace(up.Body))
	b.WriteString("\n\n")
	if len(components) > 0 {
		fmt.Fprintf(&b, "Affected: %s\n", strings.Join(components, ", "))
	}
	fmt.Fprintf(&b, "Posted %s\n", up.CreatedAt.In(loc).Format("2 Jan 2006, 15:04 MST"))
	if page.URL != "" {
		fmt.Fprintf(&b, "Details: %s/incidents/%s\n", strings.TrimRight(page.URL, "/"), in.ID)
	}
	fmt.Fprintf(&b, "\nYou receive this because you subscribed to %s.\nChoose components: %s\nUnsubscribe: %s\n",
		page.Name, links.Manage, links.Unsubscribe)
	return SubscriberMail{
		// One line: the mail adapter refuses a subject with a line break.
		Subject: fmt.Sprintf("[%s] %s: %s", oneLine(page.Name), oneLine(in.Name), up.Status.Label()),
		Text:    b.String(),
		Headers: UnsubscribeHeaders(links),
	}
}

// RenderSubscriberText writes the short SMS about an update: at most one
// segment's worth of the name and status, and how to stop.
func RenderSubscriberText(page Page, in Incident, up Update) string {
	name := in.Name
	if r := []rune(name); len(r) > 80 {
		name = string(r[:79]) + "…"
	}
	return fmt.Sprintf("%s: %s — %s. Reply STOP to unsubscribe.", page.Name, name, up.Status.Label())
}

// WebhookDisableAfter is how many notifications in a row, each given up
// after its retries, disable a webhook subscription when the
// configuration does not say.
const WebhookDisableAfter = 3

// RenderWebhookDisabledMail writes the mail telling a webhook's owner that
// Herald stopped posting to it: which endpoint (its host only: the URL may
// carry a token), why, and how to start again.
func RenderWebhookDisabledMail(page Page, sub Subscriber, failures int, lastProblem, subscribeURL string) (subject, text string) {
	subject = fmt.Sprintf("[%s] Webhook notifications stopped for %s", oneLine(page.Name), EndpointHost(sub.Address))
	var b strings.Builder
	fmt.Fprintf(&b, "%s stopped sending status notifications to your webhook at %s: its last %d notifications failed, each after its retries.\n\n",
		page.Name, EndpointHost(sub.Address), failures)
	if lastProblem != "" {
		fmt.Fprintf(&b, "The last problem: %s\n\n", lastProblem)
	}
	b.WriteString("An endpoint must answer each notification with a 2xx status within 30 seconds; a redirect counts as a failure.\n")
	if subscribeURL != "" {
		fmt.Fprintf(&b, "Once it does, subscribe it again (you will receive a new signing secret): %s\n", subscribeURL)
	}
	return subject, b.String()
}
