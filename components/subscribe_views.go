package components

import (
	"net/url"
	"slices"
	"strings"

	"github.com/kredete/herald"
)

// SubscribeForm is the subscription form as typed: the address and the
// components chosen (All, or ComponentIDs).
type SubscribeForm struct {
	// Channel is the tab: email (the default), sms or webhook.
	Channel      herald.SubscriberChannel
	Email        string
	Phone        string // sms
	URL          string // webhook
	OwnerEmail   string // webhook: told of confirmation and of failures
	All          bool
	ComponentIDs []string
}

func (f SubscribeForm) chosen(id string) bool { return slices.Contains(f.ComponentIDs, id) }

// SubscribeView is /subscribe: a tab per channel (email, SMS, webhook),
// the chosen one's form, or why it is unavailable.
type SubscribeView struct {
	Site        Site
	Components  []herald.Component // in display order
	Form        SubscribeForm
	Errors      map[string]string // field → problem, shown next to the field
	Unavailable bool              // the chosen channel is not configured (no mail server, no Twilio): no form
	Error       string            // a problem with no field (rate limit, mail server down)
}

// SMSCodeView is the page to enter an SMS confirmation code: the same
// after every SMS subscription request, known number or not.
type SMSCodeView struct {
	Site   Site
	Number string            // as typed
	Errors map[string]string // "number", "code"
	Error  string            // a problem with no field (rate limit)
}

// WebhookMailView is the HTML part of a webhook's confirmation (or
// manage) mail to its owner.
type WebhookMailView struct {
	SiteName   string
	URL        string
	Links      herald.SubscriptionLinks
	Manage     bool     // already confirmed: no confirm link, no secret
	Secret     string   // the signing secret, in the confirmation mail only
	Components []string // names; empty: all components
	Window     string
}

// subscribeTab is one channel's tab on /subscribe.
type subscribeTab struct {
	Channel herald.SubscriberChannel
	Label   string
	Href    string
}

var subscribeTabs = []subscribeTab{
	{herald.SubscriberEmail, "Email", "/subscribe"},
	{herald.SubscriberSMS, "Text message", "/subscribe?via=sms"},
	{herald.SubscriberWebhook, "Webhook", "/subscribe?via=webhook"},
}

// channel is the form's tab, email when unset.
func (f SubscribeForm) channel() herald.SubscriberChannel {
	if f.Channel == "" {
		return herald.SubscriberEmail
	}
	return f.Channel
}

// SubscribeSentView is the page after a subscription request: the same
// for every address, known or not.
type SubscribeSentView struct {
	Site  Site
	Email string
}

// SubscriptionNoticeView is a page that only says what happened to a
// subscription link: confirmed, expired, unknown, unsubscribed.
type SubscriptionNoticeView struct {
	Site    Site
	Title   string
	Message string
	TestID  string
	// Resubscribe offers the subscription form again (an expired link).
	Resubscribe bool
	// ManageURL links to the subscription's preferences, when known.
	ManageURL string
}

// ManageSubscriptionView is /subscriptions/manage: change the components
// or unsubscribe.
type ManageSubscriptionView struct {
	Site       Site
	Token      string
	Subscriber herald.Subscriber
	Components []herald.Component
	Form       SubscribeForm
	Errors     map[string]string
	Saved      bool
}

// UnsubscribeView is /subscriptions/unsubscribe: a button (a GET never
// unsubscribes: mail scanners follow links), then the confirmation.
type UnsubscribeView struct {
	Site  Site
	Token string
	Done  bool
}

// SubscriptionMailView is the confirmation (or manage) mail's HTML part.
type SubscriptionMailView struct {
	SiteName   string
	Links      herald.SubscriptionLinks
	Manage     bool     // already confirmed: a manage mail, no confirm link
	Components []string // names; empty: all components
	Window     string   // how long the confirm link lasts, in words
}

func tokenURL(path, token string) string { return path + "?token=" + url.QueryEscape(token) }

func subscriberStateText(st herald.SubscriberState) string {
	switch st {
	case herald.SubscriberPending:
		return "It is not confirmed yet: follow the link in the confirmation mail."
	case herald.SubscriberUnsubscribed:
		return "You are unsubscribed: nothing is sent until you subscribe again."
	case herald.SubscriberDisabled:
		return "Sending to this address is stopped."
	}
	return "It is active."
}

// mailScope says which components a mail is about: ", for API and Portal".
func mailScope(names []string) string {
	if len(names) == 0 {
		return ", for all components"
	}
	return ", for " + strings.Join(names, ", ")
}
