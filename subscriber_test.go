package herald_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kredete/herald"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"ada@example.com", "ada@example.com", true},
		{"  Ada.Lovelace+status@Example.CO.ZA ", "ada.lovelace+status@example.co.za", true},
		{"", "", false},
		{"ada", "", false},
		{"ada@localhost", "", false},
		{"Ada <ada@example.com>", "", false},
		{"<ada@example.com>", "", false},
		{"ada@example.com, bob@example.com", "", false},
		{"ada@.example.com", "", false},
		{"ada@example.com.", "", false},
		{"ada@[192.0.2.1]", "", false},
		{"ada@example.com\r\nBcc: x@example.com", "", false},
		{strings.Repeat("a", 250) + "@example.com", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := herald.NormalizeEmail(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestNormalizePhoneAndURL(t *testing.T) {
	for in, want := range map[string]string{"+27 82 123-4567": "+27821234567", "+1 (415) 555.0100": "+14155550100",
		"0821234567": "", "+0821234567": "", "+27": ""} {
		got, err := herald.NormalizePhone(in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"https://Hooks.Example.com/x?a=1": "https://hooks.example.com/x?a=1",
		"http://hooks.example.com/": "", "https://user:pw@hooks.example.com/": "", "https://hooks.example.com/#f": "",
		"ftp://hooks.example.com/": "", "/relative": ""} {
		got, err := herald.NormalizeWebhookURL(in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("NormalizeWebhookURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestSubscriptionRequestNormalize(t *testing.T) {
	known := map[string]herald.Component{"api": {ID: "api"}, "web": {ID: "web"}}
	tests := []struct {
		name   string
		req    herald.SubscriptionRequest
		want   herald.SubscriptionRequest
		fields []string // fields with problems; none: valid
	}{
		{"all components", herald.SubscriptionRequest{Address: "A@Example.com", AllComponents: true, ComponentIDs: []string{"api"}},
			herald.SubscriptionRequest{Channel: herald.SubscriberEmail, Address: "a@example.com", AllComponents: true, Source: herald.SourceWeb}, nil},
		{"some, deduplicated in order", herald.SubscriptionRequest{Address: "a@example.com", ComponentIDs: []string{"web", "api", "web", " "}},
			herald.SubscriptionRequest{Channel: herald.SubscriberEmail, Address: "a@example.com", ComponentIDs: []string{"web", "api"}, Source: herald.SourceWeb}, nil},
		{"none chosen", herald.SubscriptionRequest{Address: "a@example.com"}, herald.SubscriptionRequest{}, []string{"components"}},
		{"unknown component", herald.SubscriptionRequest{Address: "a@example.com", ComponentIDs: []string{"api", "ghost"}},
			herald.SubscriptionRequest{}, []string{"components"}},
		{"bad address and none chosen", herald.SubscriptionRequest{Address: "nope"}, herald.SubscriptionRequest{}, []string{"address", "components"}},
		{"unknown channel", herald.SubscriptionRequest{Channel: "fax", Address: "1", AllComponents: true}, herald.SubscriptionRequest{}, []string{"channel"}},
		{"sms", herald.SubscriptionRequest{Channel: herald.SubscriberSMS, Address: "+27 82 123 4567", AllComponents: true, OwnerEmail: "x@example.com"},
			herald.SubscriptionRequest{Channel: herald.SubscriberSMS, Address: "+27821234567", AllComponents: true, Source: herald.SourceWeb}, nil},
		{"webhook needs an owner", herald.SubscriptionRequest{Channel: herald.SubscriberWebhook, Address: "https://h.example.com/x", AllComponents: true},
			herald.SubscriptionRequest{}, []string{"owner_email"}},
		{"webhook", herald.SubscriptionRequest{Channel: herald.SubscriberWebhook, Address: "https://h.example.com/x", AllComponents: true,
			OwnerEmail: "Dev@Example.com", Source: herald.SourceImport},
			herald.SubscriptionRequest{Channel: herald.SubscriberWebhook, Address: "https://h.example.com/x", AllComponents: true,
				OwnerEmail: "dev@example.com", Source: herald.SourceImport}, nil},
		{"bad source", herald.SubscriptionRequest{Address: "a@example.com", AllComponents: true, Source: "carrier-pigeon"},
			herald.SubscriptionRequest{}, []string{"source"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.req.Normalize(known)
			if len(tt.fields) == 0 {
				if err != nil {
					t.Fatalf("Normalize = %v", err)
				}
				if got.Channel != tt.want.Channel || got.Address != tt.want.Address || got.AllComponents != tt.want.AllComponents ||
					!slices.Equal(got.ComponentIDs, tt.want.ComponentIDs) || got.OwnerEmail != tt.want.OwnerEmail || got.Source != tt.want.Source {
					t.Errorf("Normalize = %+v; want %+v", got, tt.want)
				}
				return
			}
			var ves herald.ValidationErrors
			if !errors.As(err, &ves) || !errors.Is(err, herald.ErrInvalid) {
				t.Fatalf("Normalize = %v; want ValidationErrors", err)
			}
			var fields []string
			for f := range ves.Fields() {
				fields = append(fields, f)
			}
			slices.Sort(fields)
			if !slices.Equal(fields, tt.fields) {
				t.Errorf("fields = %v; want %v (%v)", fields, tt.fields, err)
			}
		})
	}
}

func TestSubscriberWants(t *testing.T) {
	all := herald.Subscriber{AllComponents: true}
	api := herald.Subscriber{ComponentIDs: []string{"api"}}
	both := herald.Subscriber{ComponentIDs: []string{"web", "db"}}
	tests := []struct {
		name string
		sub  herald.Subscriber
		in   herald.Incident
		want bool
	}{
		{"all, any incident", all, herald.Incident{ComponentIDs: []string{"db"}}, true},
		{"overlap", api, herald.Incident{ComponentIDs: []string{"web", "api"}}, true},
		{"no overlap", api, herald.Incident{ComponentIDs: []string{"web"}}, false},
		{"second of several", both, herald.Incident{ComponentIDs: []string{"db"}}, true},
		{"no components: everyone", api, herald.Incident{}, true},
		{"drill: nobody", all, herald.Incident{Drill: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.sub.Wants(tt.in); got != tt.want {
				t.Errorf("Wants = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestSubscriberTokens(t *testing.T) {
	tok, hash := herald.NewSubscriberToken()
	tok2, _ := herald.NewSubscriberToken()
	if len(tok) != 43 || tok == tok2 || strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q (and %q): want 43 base64url characters, random", tok, tok2)
	}
	if hash != herald.HashSubscriberToken(tok) || len(hash) != 64 || hash == tok {
		t.Errorf("hash %q", hash)
	}
	l := herald.LinksFor("https://status.example.com/", tok)
	if l.Confirm != "https://status.example.com/subscriptions/confirm?token="+tok ||
		l.Manage != "https://status.example.com/subscriptions/manage?token="+tok ||
		l.Unsubscribe != "https://status.example.com/subscriptions/unsubscribe?token="+tok {
		t.Errorf("links = %+v", l)
	}
	h := herald.UnsubscribeHeaders(l)
	if h["List-Unsubscribe"] != "<"+l.Unsubscribe+">" || h["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
		t.Errorf("headers = %v", h)
	}
}

func TestSubscribeNetworkKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.77":               "subscribe-net:192.0.2.0/24",
		"192.0.2.1:5555":           "subscribe-net:192.0.2.0/24",
		"::ffff:192.0.2.9":         "subscribe-net:192.0.2.0/24",
		"2001:db8:aa:bb::1":        "subscribe-net:2001:db8:aa::/48",
		"[2001:db8:aa:ff::2]:8080": "subscribe-net:2001:db8:aa::/48",
		"fe80::1%eth0":             "subscribe-net:fe80::/48",
	} {
		if got := herald.SubscribeNetworkKey(in); got != want {
			t.Errorf("SubscribeNetworkKey(%q) = %q; want %q", in, got, want)
		}
	}
	if herald.SubscribeAddressKey(herald.SubscriberEmail, " A@x.com") != herald.SubscribeAddressKey(herald.SubscriberEmail, "a@x.com") {
		t.Error("address key depends on case")
	}
}

func TestSubscriberLimitKey(t *testing.T) {
	tests := []struct {
		ch       herald.SubscriberChannel
		in, want string
	}{
		{herald.SubscriberEmail, "alice@example.com", "alice@example.com"},
		{herald.SubscriberEmail, " Alice@Example.COM ", "alice@example.com"},
		// A +tag is removed for every domain.
		{herald.SubscriberEmail, "alice+1@example.com", "alice@example.com"},
		{herald.SubscriberEmail, "Alice+News+2@Example.com", "alice@example.com"},
		{herald.SubscriberEmail, "alice+@example.com", "alice@example.com"},
		{herald.SubscriberEmail, "alice+1@fastmail.fm", "alice@fastmail.fm"},
		// A local part that is all tag is kept, not emptied.
		{herald.SubscriberEmail, "+alice@example.com", "+alice@example.com"},
		// Dots count everywhere but at Gmail.
		{herald.SubscriberEmail, "a.lice@example.com", "a.lice@example.com"},
		{herald.SubscriberEmail, "a.lice+x@outlook.com", "a.lice@outlook.com"},
		{herald.SubscriberEmail, "a.lice@gmail.com.evil.example", "a.lice@gmail.com.evil.example"},
		{herald.SubscriberEmail, "a.lice@mail.gmail.com", "a.lice@mail.gmail.com"},
		{herald.SubscriberEmail, "a.lice@gmail.com", "alice@gmail.com"},
		{herald.SubscriberEmail, "A.Li.Ce+status@GMail.com", "alice@gmail.com"},
		{herald.SubscriberEmail, "a.lice@googlemail.com", "alice@gmail.com"},
		{herald.SubscriberEmail, "alice+1@googlemail.com", "alice@gmail.com"},
		// Not an address (the limit key of a refused form): left alone.
		{herald.SubscriberEmail, "Alice+1", "alice+1"},
		{herald.SubscriberEmail, "@example.com", "@example.com"},
		// Other channels: trimmed and lower-cased only.
		{herald.SubscriberSMS, " +447700900123 ", "+447700900123"},
		{herald.SubscriberWebhook, "https://Hooks.example.com/a+b/c.d", "https://hooks.example.com/a+b/c.d"},
	}
	for _, tt := range tests {
		if got := herald.SubscriberLimitKey(tt.ch, tt.in); got != tt.want {
			t.Errorf("SubscriberLimitKey(%s, %q) = %q; want %q", tt.ch, tt.in, got, tt.want)
		}
	}
	// The rate-limit key is built on it.
	if herald.SubscribeAddressKey(herald.SubscriberEmail, "alice+1@example.com") != herald.SubscribeAddressKey(herald.SubscriberEmail, "Alice+2@example.com") {
		t.Error("SubscribeAddressKey: +tag aliases have different keys")
	}
	if herald.SubscribeAddressKey(herald.SubscriberEmail, "a.lice@example.com") == herald.SubscribeAddressKey(herald.SubscriberEmail, "alice@example.com") {
		t.Error("SubscribeAddressKey: dots dropped outside Gmail")
	}
	if herald.SubscribeAddressKey(herald.SubscriberSMS, "alice@example.com") == herald.SubscribeAddressKey(herald.SubscriberEmail, "alice@example.com") {
		t.Error("SubscribeAddressKey: channels share keys")
	}
}
