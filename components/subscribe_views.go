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
	Email        string
	All          bool
	ComponentIDs []string
}

func (f SubscribeForm) chosen(id string) bool { return slices.Contains(f.ComponentIDs, id) }

// SubscribeView is /subscribe: the email form, or why it is unavailable.
type SubscribeView struct {
	Site        Site
	Components  []herald.Component // in display order
	Form        SubscribeForm
	Errors      map[string]string // field → problem, shown next to the field
	Unavailable bool              // no mail server configured: no form
	Error       string            // a problem with no field (rate limit, mail server down)
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
