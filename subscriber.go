package herald

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/mail"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// SubscriberChannel is how a subscriber is told: by email, by SMS or by a
// webhook call.
type SubscriberChannel string

// Subscriber channels.
const (
	SubscriberEmail   SubscriberChannel = "email"
	SubscriberSMS     SubscriberChannel = "sms"
	SubscriberWebhook SubscriberChannel = "webhook"
)

// SubscriberState is where a subscriber is in its life: pending until the
// address is proven (the link in the confirmation mail, a code by SMS),
// confirmed while it receives updates, unsubscribed when it asked to stop,
// disabled when Herald stopped it (a webhook failing again and again).
type SubscriberState string

// Subscriber states.
const (
	SubscriberPending      SubscriberState = "pending"
	SubscriberConfirmed    SubscriberState = "confirmed"
	SubscriberUnsubscribed SubscriberState = "unsubscribed"
	SubscriberDisabled     SubscriberState = "disabled"
)

// Where a subscriber came from.
const (
	SourceWeb    = "web"
	SourceImport = "import"
)

// ConfirmWindow is how long a confirmation link (or code) stays valid.
const ConfirmWindow = 48 * time.Hour

// Sign-up limits: within SubscribeLimitWindow, at most
// MaxSubscribesPerAddress requests for one address (so nobody is flooded
// with confirmation mails) and MaxSubscribesPerNetwork requests from one
// network (an IPv4 /24 or an IPv6 /48, so one host cannot walk addresses).
const (
	SubscribeLimitWindow    = time.Hour
	MaxSubscribesPerAddress = 3
	MaxSubscribesPerNetwork = 20
)

// SubscribeSMSGlobalKey is the rate-limit key of every sign-up by text
// message, whatever the number or network: each sends a text that costs
// money, so their number per SubscribeLimitWindow is capped as a whole
// (HERALD_SMS_SIGNUPS_PER_HOUR), against SMS pumping.
const SubscribeSMSGlobalKey = "sms-global"

// MaxAddressLen bounds an address: RFC 5321's 254 for email; webhook URLs
// get more room.
const (
	MaxEmailLen = 254
	MaxURLLen   = 2048
)

// ErrSubscriptionExpired means a confirmation link (or code) is past its
// ConfirmWindow, or belongs to a subscription that has ended: subscribe
// again.
var ErrSubscriptionExpired = errors.New("this confirmation link has expired")

// Subscriber is one address that receives the status page's updates.
type Subscriber struct {
	ID      string
	Channel SubscriberChannel
	// Address is the normalised address: an email in lower case, an E.164
	// phone number, a webhook URL.
	Address string
	// AllComponents: every incident; otherwise only incidents touching one
	// of ComponentIDs (or naming no component at all).
	AllComponents bool
	ComponentIDs  []string
	State         SubscriberState
	// ConfirmExpiresAt is when the pending confirmation ends.
	ConfirmExpiresAt *time.Time
	// WebhookSecret signs webhook payloads (HMAC-SHA256); webhooks only.
	WebhookSecret string
	// OwnerEmail is told when a webhook is disabled; webhooks only.
	OwnerEmail     string
	Failures       int // consecutive failed webhook calls
	Source         string
	CreatedAt      time.Time
	ConfirmedAt    *time.Time
	UnsubscribedAt *time.Time
	DisabledAt     *time.Time
}

// Wants reports whether the subscriber is concerned by the incident: never
// by a drill; always with AllComponents or when the incident names no
// component (a general announcement); otherwise when the incident touches
// one of the subscriber's components. State is not considered: the store
// selects confirmed subscribers.
func (s Subscriber) Wants(in Incident) bool {
	if in.Drill {
		return false
	}
	if s.AllComponents || len(in.ComponentIDs) == 0 {
		return true
	}
	for _, id := range in.ComponentIDs {
		for _, mine := range s.ComponentIDs {
			if id == mine {
				return true
			}
		}
	}
	return false
}

// Follows reports whether the subscriber follows a component: all of
// them, or that one among its choices.
func (s Subscriber) Follows(componentID string) bool {
	if s.AllComponents {
		return true
	}
	for _, mine := range s.ComponentIDs {
		if mine == componentID {
			return true
		}
	}
	return false
}

// SubscriptionMailKind says which mail a subscription request calls for.
type SubscriptionMailKind string

const (
	// SubscriptionMailConfirm asks to confirm a new (or not yet confirmed)
	// subscription.
	SubscriptionMailConfirm SubscriptionMailKind = "confirm"
	// SubscriptionMailManage tells a confirmed subscriber how to change or
	// end the subscription: a second confirmation would mean nothing.
	SubscriptionMailManage SubscriptionMailKind = "manage"
)

// SubscribeResult is what a subscription request did. The caller mails
// Token (never stored) to the address; what it shows the requester must
// not depend on Mail or on whether the address was known.
type SubscribeResult struct {
	Subscriber Subscriber
	Token      string
	Mail       SubscriptionMailKind
	// Code is the SMS confirmation code to text (never stored), for a
	// pending SMS subscriber; "" otherwise.
	Code string
}

// SubscriptionRequest asks to subscribe an address.
type SubscriptionRequest struct {
	Channel       SubscriberChannel
	Address       string
	AllComponents bool
	ComponentIDs  []string
	OwnerEmail    string // webhooks: who is told when it is disabled
	Source        string // SourceWeb (default) or SourceImport
}

// Normalize checks r against the known components and returns it cleaned
// up: the address normalised, the components deduplicated in the order
// given (none when AllComponents). Problems are ValidationErrors on the
// fields "channel", "address", "components", "owner_email" and "source".
func (r SubscriptionRequest) Normalize(known map[string]Component) (SubscriptionRequest, error) {
	var errs ValidationErrors
	if r.Channel == "" {
		r.Channel = SubscriberEmail
	}
	if r.Source == "" {
		r.Source = SourceWeb
	}
	if r.Source != SourceWeb && r.Source != SourceImport {
		errs.Add("source", "must be web or import")
	}
	var err error
	switch r.Channel {
	case SubscriberEmail:
		r.Address, err = NormalizeEmail(r.Address)
	case SubscriberSMS:
		r.Address, err = NormalizePhone(r.Address)
	case SubscriberWebhook:
		r.Address, err = NormalizeWebhookURL(r.Address)
		if owner, oerr := NormalizeEmail(r.OwnerEmail); oerr != nil {
			errs.Add("owner_email", oerr.Error())
		} else {
			r.OwnerEmail = owner
		}
	default:
		errs.Add("channel", "must be one of email, sms, webhook")
	}
	if err != nil {
		errs.Add("address", err.Error())
	}
	if r.Channel != SubscriberWebhook {
		r.OwnerEmail = ""
	}
	if r.AllComponents {
		r.ComponentIDs = nil
	} else {
		seen := map[string]bool{}
		var ids []string
		for _, id := range r.ComponentIDs {
			id = strings.TrimSpace(id)
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			if _, ok := known[id]; !ok {
				errs.Add("components", "there is no component "+subscriberQuote(id))
				continue
			}
			ids = append(ids, id)
		}
		r.ComponentIDs = ids
		if len(ids) == 0 && !subscriberHasField(errs, "components") {
			errs.Add("components", "choose all components or at least one component")
		}
	}
	return r, errs.Err()
}

func subscriberHasField(errs ValidationErrors, field string) bool {
	for _, e := range errs {
		if e.Field == field {
			return true
		}
	}
	return false
}

func subscriberQuote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + s + `"`
}

// NormalizeEmail checks an email address (a bare address, no display name,
// a domain with a dot) and returns it in lower case.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("enter an email address")
	}
	if len(s) > MaxEmailLen {
		return "", errors.New("is longer than 254 characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", errors.New("is not an email address such as name@example.com")
	}
	_, domain, _ := strings.Cut(a.Address, "@")
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.ContainsAny(domain, "[]") {
		return "", errors.New("is not an email address such as name@example.com")
	}
	return strings.ToLower(a.Address), nil
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// NormalizePhone checks a phone number in E.164 form (+27821234567);
// spaces, dashes, dots and brackets are dropped first.
func NormalizePhone(s string) (string, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' {
			return -1
		}
		return r
	}, s)
	if !e164.MatchString(s) {
		return "", errors.New("is not a phone number in international form, such as +27821234567")
	}
	return s, nil
}

// NormalizeWebhookURL checks a webhook URL's form: absolute https,
// a host, no user information or fragment. Whether the host is private is
// checked where it is resolved (SSRF), not here.
func NormalizeWebhookURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxURLLen {
		return "", errors.New("is longer than 2048 characters")
	}
	u, err := url.Parse(s)
	if err != nil || !strings.EqualFold(u.Scheme, "https") || u.Host == "" || u.Hostname() == "" {
		return "", errors.New("is not an https URL")
	}
	if u.User != nil {
		return "", errors.New("must not contain a user name or password")
	}
	if u.Fragment != "" {
		return "", errors.New("must not contain a #fragment")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	// Re-encoding may lengthen it (a space becomes %20): the stored form
	// is what must fit.
	if out := u.String(); len(out) <= MaxURLLen {
		return out, nil
	}
	return "", errors.New("is longer than 2048 characters")
}

// NewSubscriberToken returns a fresh random token for confirm, manage and
// unsubscribe links (32 bytes, base64url) and the hash to store: the token
// itself is never stored.
func NewSubscriberToken() (token, hash string) {
	b := make([]byte, 32)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashSubscriberToken(token)
}

// HashSubscriberToken is the stored form of a token: SHA-256, hex. A token
// of the wrong shape hashes to something no subscriber has.
func HashSubscriberToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewWebhookSecret returns a random secret to sign a webhook's payloads.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b)
}

// SubscribeAddressKey is the rate-limit key of one address: its
// SubscriberLimitKey, so the aliases of one mailbox share a limit.
func SubscribeAddressKey(ch SubscriberChannel, address string) string {
	return "subscribe:" + string(ch) + ":" + SubscriberLimitKey(ch, address)
}

// SubscriberLimitKey is the canonical form of an address under which the
// per-address sign-up limit (MaxSubscribesPerAddress) counts requests, so
// that aliases of one mailbox cannot each get their own confirmation mails.
// It is only a limit key: the subscriber is stored under the address as
// typed (NormalizeEmail's form), and two addresses with one key are still
// two subscribers.
//
// For email, the address is trimmed and lower-cased and a "+tag" is
// removed from the local part, whatever the domain ("Alice+News@Example.com"
// counts as "alice@example.com"); a local part that starts with "+" is kept
// whole. Dots are kept: most providers treat "a.lice" and "alice" as two
// mailboxes. Only gmail.com and googlemail.com ignore them, so for those
// the dots of the local part are removed and googlemail.com counts as
// gmail.com ("A.Lice+x@googlemail.com" counts as "alice@gmail.com").
//
// Other channels' addresses (an E.164 number, a webhook URL) are only
// trimmed and lower-cased. The function is pure: no lookups.
func SubscriberLimitKey(ch SubscriberChannel, address string) string {
	address = strings.ToLower(strings.TrimSpace(address))
	if ch != SubscriberEmail {
		return address
	}
	at := strings.LastIndexByte(address, '@')
	if at <= 0 {
		return address
	}
	local, domain := address[:at], address[at+1:]
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	switch domain {
	case "gmail.com", "googlemail.com":
		if l := strings.ReplaceAll(local, ".", ""); l != "" {
			local = l
		}
		domain = "gmail.com"
	}
	return local + "@" + domain
}

// SubscribeNetworkKey is the rate-limit key of a client's network: its
// IPv4 /24 or IPv6 /48 (an IPv4-mapped IPv6 address counts as IPv4).
// Anything unparseable is keyed as given.
func SubscribeNetworkKey(ip string) string {
	ip = strings.TrimSpace(ip)
	if ap, err := netip.ParseAddrPort(ip); err == nil {
		ip = ap.Addr().String()
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "subscribe-net:" + ip
	}
	a = a.Unmap().WithZone("")
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return "subscribe-net:" + p.String()
}

// SubscriptionLinks are the links of one subscriber's mails.
type SubscriptionLinks struct {
	Confirm, Manage, Unsubscribe string
}

// LinksFor builds a subscriber's links under base, the public page's URL
// (https://status.example.com).
func LinksFor(base, token string) SubscriptionLinks {
	base = strings.TrimRight(base, "/")
	q := "?token=" + url.QueryEscape(token)
	return SubscriptionLinks{
		Confirm:     base + "/subscriptions/confirm" + q,
		Manage:      base + "/subscriptions/manage" + q,
		Unsubscribe: base + "/subscriptions/unsubscribe" + q,
	}
}

// UnsubscribeHeaders are the header fields every subscriber mail carries:
// List-Unsubscribe with the one-click link and List-Unsubscribe-Post
// (RFC 8058), so mail clients offer an unsubscribe button that POSTs
// "List-Unsubscribe=One-Click" to the link.
func UnsubscribeHeaders(l SubscriptionLinks) map[string]string {
	return map[string]string{
		"List-Unsubscribe":      "<" + l.Unsubscribe + ">",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
	}
}

// SubscriberCounts counts subscribers per channel and state.
type SubscriberCounts map[SubscriberChannel]map[SubscriberState]int

// Total is the number of subscribers of a channel in a state.
func (c SubscriberCounts) Total(ch SubscriberChannel, st SubscriberState) int {
	return c[ch][st]
}
