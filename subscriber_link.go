package herald

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Every mail a confirmed subscriber receives carries manage and one-click
// unsubscribe links. Only the hash of a subscriber's random token is
// stored, so those mails cannot repeat it; and minting a new token per
// mail would end the links in earlier mails. Their links carry a signed
// token instead: "s1.<subscriber id>.<MAC>", the MAC an HMAC-SHA256 (cut
// to 128 bits) of the id under a key Herald keeps in its database, so any
// replica checks it and an old mail's link keeps working. A signed token
// manages and unsubscribes; it never confirms (confirmation needs the
// random token the confirmation mail carried).
const subscriberLinkPrefix = "s1."

// SubscriberLinkToken is the signed token of a subscriber's links.
func SubscriberLinkToken(key []byte, subscriberID string) string {
	return subscriberLinkPrefix + subscriberID + "." + base64.RawURLEncoding.EncodeToString(subscriberLinkMAC(key, subscriberID))
}

// IsSubscriberLinkToken tells a signed token from a random one.
func IsSubscriberLinkToken(token string) bool { return strings.HasPrefix(token, subscriberLinkPrefix) }

// ParseSubscriberLinkToken returns the subscriber id of a signed token
// whose MAC is right under key.
func ParseSubscriberLinkToken(key []byte, token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, subscriberLinkPrefix)
	if !ok || len(key) == 0 {
		return "", false
	}
	id, mac, ok := strings.Cut(rest, ".")
	if !ok || id == "" || len(id) > 64 {
		return "", false
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(mac)
	if err != nil || !hmac.Equal(got, subscriberLinkMAC(key, id)) {
		return "", false
	}
	return id, true
}

func subscriberLinkMAC(key []byte, id string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("herald subscriber link v1\x00"))
	m.Write([]byte(id))
	return m.Sum(nil)[:16]
}
