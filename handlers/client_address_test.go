package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestClientAddress drives requests through clientAddresses and reads what
// a handler behind it sees. The proxies trusted are a Kubernetes pod
// network, a single address and an IPv6 ULA range.
func TestClientAddress(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.30.80.10/32"),
		netip.MustParsePrefix("fd00::/8")}
	const proxy = "10.0.0.2:51000" // a trusted peer
	for _, c := range []struct {
		name    string
		trusted []netip.Prefix // nil: HERALD_TRUSTED_PROXIES unset
		peer    string         // RemoteAddr
		xff     []string       // X-Forwarded-For lines
		header  [2]string      // another header
		want    string
	}{
		// Nothing trusted: the header is the client's word and is ignored.
		{name: "unset, no header", peer: "192.0.2.1:40000", want: "192.0.2.1"},
		{name: "unset, forged header", peer: "192.0.2.1:40000", xff: []string{"203.0.113.9"}, want: "192.0.2.1"},
		{name: "unset, forged from a proxy's address", peer: "10.0.0.2:40000", xff: []string{"203.0.113.9"}, want: "10.0.0.2"},
		{name: "unset, IPv6 peer", peer: "[2001:db8::5]:40000", want: "2001:db8::5"},
		{name: "unset, IPv4-mapped peer", peer: "[::ffff:192.0.2.1]:40000", want: "192.0.2.1"},

		// A peer outside the trusted proxies is the client, whatever it sends.
		{name: "untrusted peer, header ignored", trusted: trusted, peer: "192.0.2.1:40000", xff: []string{"203.0.113.9"}, want: "192.0.2.1"},
		{name: "untrusted peer claiming a trusted hop", trusted: trusted, peer: "192.0.2.1:40000", xff: []string{"203.0.113.9, 10.0.0.3"}, want: "192.0.2.1"},
		{name: "untrusted IPv6 peer", trusted: trusted, peer: "[2001:db8::5]:40000", xff: []string{"203.0.113.9"}, want: "2001:db8::5"},

		// From a trusted proxy: the rightmost address it did not itself trust.
		{name: "one proxy", trusted: trusted, peer: proxy, xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "no header: the proxy", trusted: trusted, peer: proxy, want: "10.0.0.2"},
		{name: "empty header: the proxy", trusted: trusted, peer: proxy, xff: []string{""}, want: "10.0.0.2"},
		{name: "spoofed leftmost entries", trusted: trusted, peer: proxy, xff: []string{"198.51.100.1, 198.51.100.2, 203.0.113.9"}, want: "203.0.113.9"},
		{name: "spoofed trusted-looking leftmost", trusted: trusted, peer: proxy, xff: []string{"10.9.9.9, 203.0.113.9"}, want: "203.0.113.9"},
		{name: "chain of trusted proxies", trusted: trusted, peer: proxy, xff: []string{"198.51.100.1, 203.0.113.9, 172.30.80.10, 10.1.1.1"}, want: "203.0.113.9"},
		{name: "only trusted entries: the proxy, never the client's leftmost", trusted: trusted, peer: proxy, xff: []string{"10.9.9.9, 10.1.1.1"}, want: "10.0.0.2"},
		{name: "lines merged in order", trusted: trusted, peer: proxy, xff: []string{"198.51.100.1", "203.0.113.9, 10.1.1.1"}, want: "203.0.113.9"},
		{name: "a forged second line on the left", trusted: trusted, peer: proxy, xff: []string{"198.51.100.1, 10.1.1.1", "203.0.113.9"}, want: "203.0.113.9"},
		{name: "empty entries skipped", trusted: trusted, peer: proxy, xff: []string{"203.0.113.9, ,"}, want: "203.0.113.9"},
		{name: "spaces", trusted: trusted, peer: proxy, xff: []string{"  203.0.113.9  ,10.1.1.1 "}, want: "203.0.113.9"},

		// IPv6, and the spellings that must not alias a trusted address.
		{name: "IPv6 client", trusted: trusted, peer: proxy, xff: []string{"2001:db8::7"}, want: "2001:db8::7"},
		{name: "IPv6 proxy", trusted: trusted, peer: "[fd00::2]:51000", xff: []string{"198.51.100.4, fd00::3"}, want: "198.51.100.4"},
		{name: "IPv4-mapped trusted hop", trusted: trusted, peer: proxy, xff: []string{"203.0.113.9, ::ffff:10.1.1.1"}, want: "203.0.113.9"},
		{name: "IPv4-mapped client", trusted: trusted, peer: proxy, xff: []string{"::ffff:203.0.113.9"}, want: "203.0.113.9"},
		{name: "IPv4-mapped trusted peer", trusted: trusted, peer: "[::ffff:10.0.0.2]:51000", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "zone dropped", trusted: trusted, peer: proxy, xff: []string{"fe80::1%eth0"}, want: "fe80::1"},
		{name: "peer without a port", trusted: trusted, peer: "10.0.0.2", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},

		// Garbage where the walk reaches it: the proxy, never a guess.
		{name: "garbage", trusted: trusted, peer: proxy, xff: []string{"not an address"}, want: "10.0.0.2"},
		{name: "garbage rightmost", trusted: trusted, peer: proxy, xff: []string{"203.0.113.9, unknown"}, want: "10.0.0.2"},
		{name: "garbage between trusted hops", trusted: trusted, peer: proxy, xff: []string{"203.0.113.9, _hidden, 10.1.1.1"}, want: "10.0.0.2"},
		{name: "garbage left of the client is never read", trusted: trusted, peer: proxy, xff: []string{"<script>, 203.0.113.9"}, want: "203.0.113.9"},
		{name: "entry with a port", trusted: trusted, peer: proxy, xff: []string{"203.0.113.9:5555"}, want: "10.0.0.2"},
		{name: "bracketed IPv6 with a port", trusted: trusted, peer: proxy, xff: []string{"[2001:db8::7]:443"}, want: "10.0.0.2"},
		{name: "CIDR in the header", trusted: trusted, peer: proxy, xff: []string{"203.0.113.0/24"}, want: "10.0.0.2"},
		{name: "unparseable peer kept as given", trusted: trusted, peer: "pipe", xff: []string{"203.0.113.9"}, want: "pipe"},

		// Other headers are not read.
		{name: "Forwarded ignored", trusted: trusted, peer: proxy, header: [2]string{"Forwarded", "for=203.0.113.9"}, want: "10.0.0.2"},
		{name: "X-Real-IP ignored", trusted: trusted, peer: proxy, header: [2]string{"X-Real-IP", "203.0.113.9"}, want: "10.0.0.2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/console/sign-in", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if c.header[0] != "" {
				r.Header.Set(c.header[0], c.header[1])
			}
			got, calls := "", 0
			clientAddresses(c.trusted)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = clientAddress(r)
				calls++
			})).ServeHTTP(httptest.NewRecorder(), r)
			if calls != 1 || got != c.want {
				t.Errorf("peer %s, X-Forwarded-For %q: %q (handler called %d times); want %q", c.peer, c.xff, got, calls, c.want)
			}
		})
	}
}

// With nothing trusted the middleware adds nothing to the request: no
// allocation for a setting that is off (with proxies, chi's middleware
// stores the address in the request's context).
func TestClientAddressesOff(t *testing.T) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	r := httptest.NewRequest(http.MethodGet, "/history", nil)
	r.RemoteAddr = "10.0.0.2:51000"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	w := httptest.NewRecorder()
	for _, c := range []struct {
		trusted []netip.Prefix
		allocs  bool
	}{{nil, false}, {[]netip.Prefix{}, false}, {[]netip.Prefix{{}}, false}, {[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, true}} {
		h := clientAddresses(c.trusted)(next)
		if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); (n > 0) != c.allocs {
			t.Errorf("trusted %v: %v allocations a request; want some: %v", c.trusted, n, c.allocs)
		}
	}
}
