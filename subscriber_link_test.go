package herald_test

import (
	"strings"
	"testing"

	"github.com/kredete/herald"
)

func TestSubscriberLinkToken(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	tok := herald.SubscriberLinkToken(key, "sub123")
	if !herald.IsSubscriberLinkToken(tok) {
		t.Fatalf("%q is not recognised as signed", tok)
	}
	if id, ok := herald.ParseSubscriberLinkToken(key, tok); !ok || id != "sub123" {
		t.Fatalf("parse %q = %q %v", tok, id, ok)
	}
	last := tok[len(tok)-1]
	flip := byte('A')
	if last == 'A' {
		flip = 'B'
	}
	for name, bad := range map[string]string{
		"other key":          herald.SubscriberLinkToken([]byte("another key, another key, another"), "sub123"),
		"other id, same MAC": strings.Replace(tok, "sub123", "sub124", 1),
		"tampered MAC":       tok[:len(tok)-1] + string(flip),
		"no MAC":             "s1.sub123",
		"empty id":           "s1..abc",
		"random token":       "q2Zx9b1v0m4l8k7j6h5g4f3d2s1a0p9o8i7u6y5t4r3",
		"not base64":         "s1.sub123.!!!",
	} {
		if id, ok := herald.ParseSubscriberLinkToken(key, bad); ok {
			t.Errorf("%s: %q parsed as %q", name, bad, id)
		}
	}
	if _, ok := herald.ParseSubscriberLinkToken(nil, tok); ok {
		t.Error("a token parsed without a key")
	}
}

// TestSubscriberLinkTokenIsCanonical: a MAC's last character carries
// unused bits; a token differing only there is refused, so each
// subscriber has exactly one valid link token.
func TestSubscriberLinkTokenIsCanonical(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, id := range []string{"a", "sub123", "zzzzzzzzzzzz", "x0x0x0"} {
		tok := herald.SubscriberLinkToken(key, id)
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		for _, c := range alphabet {
			other := tok[:len(tok)-1] + string(c)
			if other == tok {
				continue
			}
			if _, ok := herald.ParseSubscriberLinkToken(key, other); ok {
				t.Errorf("%q (last character changed) parsed as valid", other)
			}
		}
	}
}
