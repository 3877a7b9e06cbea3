package components

import (
	"net/url"
	"strings"

	"github.com/kredete/herald"
)

// SubscribersView is the console's Subscribers page (admin, communications
// lead): counts, the filter form, one page of the list, import and export.
type SubscribersView struct {
	Console    Console
	Counts     herald.SubscriberCounts
	Components []herald.Component
	Filter     SubscriberFilterForm
	Rows       []SubscriberRow
	// NextAfter is the cursor of the next page; "" on the last.
	NextAfter string
	// Paged: this is not the first page.
	Paged bool
	// Errors are field problems: the filter's fields, "file" for the
	// import, "confirm-<id>" for a removal not confirmed.
	Errors map[string]string
	// Report is the outcome of an import, shown above the list.
	Report *ImportReport
}

// SubscriberFilterForm is the filter form as typed (query parameters).
type SubscriberFilterForm struct {
	Query, Channel, State, Component string
}

// Active reports whether any filter is set.
func (f SubscriberFilterForm) Active() bool {
	return f.Query != "" || f.Channel != "" || f.State != "" || f.Component != ""
}

// SubscriberRow is one subscriber as the list shows it.
type SubscriberRow struct {
	ID string
	// Address is herald.DisplayAddress: a webhook by its host alone.
	Address    string
	Channel    herald.SubscriberChannel
	Components string // "All components" or the names, comma-separated
	State      herald.SubscriberState
	Created    string
	Confirmed  string // "" when not confirmed
	Source     string
}

// ImportReport is what an import did, line by line.
type ImportReport struct {
	Rows     int
	Accepted int
	Channels map[string]int
	Refused  []herald.CSVRefusal
}

func subscriberChannelLabel(c herald.SubscriberChannel) string {
	switch c {
	case herald.SubscriberEmail:
		return "Email"
	case herald.SubscriberSMS:
		return "SMS"
	case herald.SubscriberWebhook:
		return "Webhook"
	}
	return string(c)
}

func subscriberStateLabel(s herald.SubscriberState) string {
	if s == "" {
		return ""
	}
	return strings.ToUpper(string(s[:1])) + string(s[1:])
}

func channelTotal(c herald.SubscriberCounts, ch herald.SubscriberChannel) int {
	n := 0
	for _, v := range c[ch] {
		n += v
	}
	return n
}

func stateTotal(c herald.SubscriberCounts, st herald.SubscriberState) int {
	n := 0
	for _, m := range c {
		n += m[st]
	}
	return n
}

func countsTotal(c herald.SubscriberCounts) int {
	n := 0
	for _, m := range c {
		for _, v := range m {
			n += v
		}
	}
	return n
}

// subscribersPageURL is the list's URL with the filter and a cursor.
func subscribersPageURL(f SubscriberFilterForm, after string) string {
	q := url.Values{}
	for k, v := range map[string]string{"q": f.Query, "channel": f.Channel, "state": f.State, "component": f.Component, "after": after} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return "/console/subscribers"
	}
	return "/console/subscribers?" + q.Encode()
}
