package herald

import (
	"net/url"
	"slices"
	"strings"
)

// SubscriberFilter narrows the console's subscriber list. Zero fields do
// not filter.
type SubscriberFilter struct {
	// Query matches a part of the address, in any letter case.
	Query   string
	Channel SubscriberChannel
	State   SubscriberState
	// ComponentID keeps the subscribers told about the component: those
	// who chose it and those who take every component.
	ComponentID string
}

// SubscriberChannels lists the channels in the order the console shows them.
var SubscriberChannels = []SubscriberChannel{SubscriberEmail, SubscriberSMS, SubscriberWebhook}

// SubscriberStates lists the states in the order the console shows them.
var SubscriberStates = []SubscriberState{SubscriberConfirmed, SubscriberPending, SubscriberUnsubscribed, SubscriberDisabled}

// Why an import skips a row the file itself got right.
const (
	ImportAlreadySubscribed = "already subscribed"
	ImportUnsubscribed      = "unsubscribed earlier; only they can subscribe again"
	ImportDisabled          = "a webhook disabled after repeated failures; left as it is"
	ImportUnknownComponent  = "names a component that no longer exists"
	// ImportWebhookRefused: an import stores no webhook, since its signing
	// secret would reach nobody (the owner gets it in the confirmation mail
	// of a sign-up, and in no other way).
	ImportWebhookRefused = "webhook subscribers sign up on the status page, so that their owner receives the signing secret by email"
)

// SubscriberImport is what an import stored: how many subscribers it added
// (per channel) and which rows it skipped, by their index in the rows
// given, with the reason. Skipped rows are left unchanged in the store.
type SubscriberImport struct {
	Imported int
	Channels map[string]int
	Skipped  []ImportSkip
}

// ImportSkip is one row an import did not store.
type ImportSkip struct {
	Index  int
	Reason string
}

// RefuseAccepted moves the accepted row i of rows (as parsed with this
// report) to Refused with reason, keeping Refused in line order. It is for
// checks made after the file was read: the SSRF check of a webhook URL, an
// address already subscribed.
func (r *CSVReport) RefuseAccepted(rows []CSVSubscriber, i int, reason string) {
	if i < 0 || i >= len(rows) || i >= len(r.Lines) {
		return
	}
	ref := CSVRefusal{Line: r.Lines[i], Address: csvTruncate(rows[i].Address), Reason: reason}
	at, _ := slices.BinarySearchFunc(r.Refused, ref.Line, func(a CSVRefusal, line int) int { return a.Line - line })
	r.Refused = slices.Insert(r.Refused, at, ref)
	r.Accepted--
	if r.Channels != nil {
		r.Channels[rows[i].Channel]--
	}
}

// DisplayAddress is how the console shows an address: a webhook by its
// host alone, since the path or query of its URL may carry a token.
func DisplayAddress(ch SubscriberChannel, address string) string {
	if ch != SubscriberWebhook {
		return address
	}
	u, err := url.Parse(address)
	if err != nil || u.Host == "" {
		return "(webhook)"
	}
	return strings.ToLower(u.Host)
}
