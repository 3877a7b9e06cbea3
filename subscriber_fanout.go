package herald

import (
	"fmt"
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
)

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
		Subject: fmt.Sprintf("[%s] %s: %s", page.Name, in.Name, up.Status.Label()),
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
