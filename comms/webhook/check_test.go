package webhook_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/kredete/herald/comms/webhook"
)

// resolver answers from a table; a name it does not know fails as DNS does.
type resolver map[string][]string

var errNoSuchHost = errors.New("no such host")

func (r resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ss, ok := r[host]
	if !ok {
		return nil, errNoSuchHost
	}
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out, nil
}

var testResolver = resolver{
	"hooks.example.com":    {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
	"hooks.example.com.":   {"93.184.215.14"},
	"internal.example.com": {"10.0.0.5"},
	"mixed.example.com":    {"93.184.215.14", "10.0.0.5"},
	"mixed6.example.com":   {"2606:2800:21f:cb07:6820:80da:af6b:8b2c", "fd00::5"},
	"mapped.example.com":   {"::ffff:192.168.0.1"},
	"localhost":            {"127.0.0.1", "::1"},
	"metadata.example.com": {"169.254.169.254"},
	"local.test":           {"127.0.0.1"},
	"empty.example.com":    {},
}

func TestCheckURL(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	private := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name  string
		url   string
		allow []netip.Prefix
		want  string // "" accepted; else a part of the error
		kind  error  // ErrInvalidURL, errBlocked or errNoSuchHost
	}{
		{"public name", "https://hooks.example.com/statuspage?token=t0k3n", nil, "", nil},
		{"public name with a port", "https://hooks.example.com:8443/hook", nil, "", nil},
		{"public name with a trailing dot", "https://hooks.example.com./hook", nil, "", nil},
		{"public IPv4 literal", "https://8.8.8.8/hook", nil, "", nil},
		{"public IPv6 literal", "https://[2606:4700:4700::1111]:8443/hook", nil, "", nil},
		{"public IPv4-mapped literal", "https://[::ffff:8.8.8.8]/hook", nil, "", nil},
		{"NAT64 of a public address", "https://[64:ff9b::808:808]/hook", nil, "", nil},
		{"next to 172.16/12", "https://172.32.0.1/", nil, "", nil},
		{"next to 100.64/10", "https://100.128.0.1/", nil, "", nil},
		{"next to 192.168/16", "https://192.169.0.1/", nil, "", nil},

		// Each range refused, as a literal.
		{"0.0.0.0", "https://0.0.0.0/", nil, "0.0.0.0 is an unspecified address", errBlocked},
		{"0.0.0.0/8", "https://0.1.2.3/", nil, `0.1.2.3 is a "this network" address (0.0.0.0/8)`, errBlocked},
		{"10/8", "https://10.0.0.5/", nil, "10.0.0.5 is a private address", errBlocked},
		{"172.16/12 low", "https://172.16.0.1/", nil, "172.16.0.1 is a private address", errBlocked},
		{"172.16/12 high", "https://172.31.255.255/", nil, "a private address", errBlocked},
		{"192.168/16", "https://192.168.1.1:8443/", nil, "192.168.1.1 is a private address", errBlocked},
		{"CGNAT 100.64/10 low", "https://100.64.0.1/", nil, "100.64.0.1 is a carrier-grade NAT address (100.64.0.0/10)", errBlocked},
		{"CGNAT 100.64/10 high", "https://100.127.255.254/", nil, "carrier-grade NAT", errBlocked},
		{"loopback", "https://127.0.0.1/", nil, "127.0.0.1 is a loopback address", errBlocked},
		{"loopback 127/8", "https://127.255.0.9/", nil, "a loopback address", errBlocked},
		{"link-local (cloud metadata)", "https://169.254.169.254/latest/meta-data", nil, "169.254.169.254 is a link-local address", errBlocked},
		{"IETF protocol assignments", "https://192.0.0.8/", nil, "an IETF protocol assignment", errBlocked},
		{"TEST-NET-1", "https://192.0.2.1/", nil, "192.0.2.1 is a documentation address", errBlocked},
		{"TEST-NET-2", "https://198.51.100.7/", nil, "a documentation address", errBlocked},
		{"TEST-NET-3", "https://203.0.113.9/", nil, "a documentation address", errBlocked},
		{"benchmarking 198.18/15", "https://198.19.255.1/", nil, "198.19.255.1 is a benchmarking address", errBlocked},
		{"multicast", "https://239.255.255.250/", nil, "a multicast address", errBlocked},
		{"reserved 240/4", "https://240.0.0.1/", nil, "a reserved address (240.0.0.0/4)", errBlocked},
		{"broadcast", "https://255.255.255.255/", nil, "the broadcast address", errBlocked},

		// IPv6 forms.
		{"IPv6 unspecified", "https://[::]/", nil, ":: is an unspecified address", errBlocked},
		{"IPv6 loopback", "https://[::1]:8080/", nil, "::1 is a loopback address", errBlocked},
		{"IPv6 loopback written long", "https://[0:0:0:0:0:0:0:1]/", nil, "::1 is a loopback address", errBlocked},
		{"IPv4-mapped private", "https://[::ffff:10.0.0.5]/", nil, "::ffff:10.0.0.5 is a private address (IPv4-mapped)", errBlocked},
		{"IPv4-mapped loopback in hex", "https://[::ffff:7f00:1]/", nil, "a loopback address (IPv4-mapped)", errBlocked},
		{"IPv4-compatible loopback", "https://[::127.0.0.1]/", nil, "an IPv4-compatible address", errBlocked},
		{"NAT64 of a private address", "https://[64:ff9b::a00:5]/", nil, "a private address (NAT64 for 10.0.0.5)", errBlocked},
		{"ULA fc00::/7", "https://[fd12:3456::1]/", nil, "fd12:3456::1 is a unique local address (fc00::/7)", errBlocked},
		{"ULA fc00::", "https://[fc00::1]/", nil, "a unique local address", errBlocked},
		{"IPv6 link-local", "https://[fe80::1]/", nil, "fe80::1 is a link-local address", errBlocked},
		{"IPv6 link-local with a zone", "https://[fe80::1%25eth0]/", nil, "a link-local address", errBlocked},
		{"IPv6 site-local", "https://[fec0::1]/", nil, "a site-local address", errBlocked},
		{"IPv6 multicast", "https://[ff02::1]/", nil, "a multicast address", errBlocked},
		{"IPv6 documentation", "https://[2001:db8::1]/", nil, "2001:db8::1 is a documentation address", errBlocked},
		{"IPv6 documentation 3fff::/20", "https://[3fff::1]/", nil, "a documentation address", errBlocked},
		{"IPv6 benchmarking", "https://[2001:2::1]/", nil, "a benchmarking address", errBlocked},
		{"6to4 embedding loopback", "https://[2002:7f00:1::1]/", nil, "a 6to4 tunnel address", errBlocked},
		{"Teredo", "https://[2001::1]/", nil, "a Teredo tunnel address", errBlocked},

		// Names: every address must be public.
		{"name resolving private", "https://internal.example.com/hook", nil, "webhook: internal.example.com resolves to 10.0.0.5, a private address", errBlocked},
		{"name resolving public and private", "https://mixed.example.com/hook", nil, "mixed.example.com resolves to 10.0.0.5, a private address", errBlocked},
		{"name resolving public and ULA", "https://mixed6.example.com/hook", nil, "resolves to fd00::5, a unique local address", errBlocked},
		{"name resolving IPv4-mapped private", "https://mapped.example.com/", nil, "resolves to ::ffff:192.168.0.1, a private address (IPv4-mapped)", errBlocked},
		{"localhost", "https://localhost:8443/", nil, "localhost resolves to 127.0.0.1, a loopback address", errBlocked},
		{"name resolving to cloud metadata", "https://metadata.example.com/", nil, "a link-local address", errBlocked},
		{"resolver error", "https://nowhere.example.com/hook", nil, "cannot resolve nowhere.example.com", errNoSuchHost},
		{"no addresses", "https://empty.example.com/hook", nil, "resolves to no address", nil},

		// The URL's form.
		{"user and password", "https://alice:s3cret@hooks.example.com/hook", nil, "must not carry a user name or password", webhook.ErrInvalidURL},
		{"user alone", "https://alice@hooks.example.com/hook", nil, "must not carry a user name or password", webhook.ErrInvalidURL},
		{"http without the allow-list", "http://hooks.example.com/hook", nil, "the scheme must be https", webhook.ErrInvalidURL},
		{"http to a public address even when allow-listing loopback", "http://8.8.8.8/hook", loopback, "the scheme must be https", webhook.ErrInvalidURL},
		{"ftp", "ftp://hooks.example.com/", nil, "the scheme must be https", webhook.ErrInvalidURL},
		{"javascript", "javascript:alert(1)", nil, "the scheme must be https", webhook.ErrInvalidURL},
		{"no host", "https:///hook", nil, "it has no host", webhook.ErrInvalidURL},
		{"opaque", "https:hooks.example.com", nil, "it has no host", webhook.ErrInvalidURL},
		{"not a URL", "https://hooks.example.com/%zz", nil, "it is not a URL", webhook.ErrInvalidURL},
		{"port 0", "https://hooks.example.com:0/", nil, "port 0 is out of range", webhook.ErrInvalidURL},
		{"port too large", "https://hooks.example.com:99999/", nil, "port 99999 is out of range", webhook.ErrInvalidURL},
		{"decimal address", "https://2130706433/", nil, "looks like a number", webhook.ErrInvalidURL},
		{"hex address", "https://0x7f000001/", nil, "looks like a number", webhook.ErrInvalidURL},
		{"short address", "https://127.1/", nil, "looks like a number", webhook.ErrInvalidURL},
		{"octal address", "https://0177.0.0.01/", nil, "looks like a number", webhook.ErrInvalidURL},
		{"Unicode name", "https://bücher.example/", nil, "xn-- form", webhook.ErrInvalidURL},
		{"empty label", "https://hooks..example.com/", nil, "not a valid name", webhook.ErrInvalidURL},

		// The allow-list, for tests.
		{"http to allow-listed loopback", "http://127.0.0.1:8080/hook", loopback, "", nil},
		{"http to a name resolving into the allow-list", "http://local.test:8080/hook", loopback, "", nil},
		{"https to an allow-listed private address", "https://10.0.0.5/hook", private, "", nil},
		{"allow-list covers IPv4-mapped", "https://[::ffff:10.0.0.5]/", private, "", nil},
		{"allow-list is not a blanket", "https://192.168.1.1/", private, "a private address", errBlocked},
		{"every address must be allow-listed", "http://localhost:8080/", loopback, "localhost resolves to ::1, a loopback address", errBlocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.CheckURL(t.Context(), testResolver, tt.url, tt.allow)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want accepted", tt.url, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckURL(%q) accepted, want %q", tt.url, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckURL(%q) = %q, want it to say %q", tt.url, err, tt.want)
			}
			var be *webhook.BlockedError
			switch tt.kind {
			case errBlocked:
				if !errors.As(err, &be) {
					t.Errorf("error %v is not a *BlockedError", err)
				}
			case webhook.ErrInvalidURL, errNoSuchHost:
				if !errors.Is(err, tt.kind) {
					t.Errorf("error %v is not %v", err, tt.kind)
				}
			}
			if tt.kind != errBlocked && errors.As(err, &be) {
				t.Errorf("error %v is a *BlockedError", err)
			}
			if tt.kind != webhook.ErrInvalidURL && errors.Is(err, webhook.ErrInvalidURL) {
				t.Errorf("error %v is ErrInvalidURL", err)
			}
			for _, secret := range []string{"s3cret", "t0k3n", "/hook"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows the URL's %q", err, secret)
				}
			}
		})
	}
}

// errBlocked marks a test case that wants a *webhook.BlockedError.
var errBlocked = errors.New("blocked")

func TestBlockedErrorFields(t *testing.T) {
	err := webhook.CheckURL(t.Context(), testResolver, "https://mixed.example.com/", nil)
	var be *webhook.BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a *BlockedError", err)
	}
	want := webhook.BlockedError{Host: "mixed.example.com", Addr: netip.MustParseAddr("10.0.0.5"), Reason: "a private address"}
	if *be != want {
		t.Errorf("BlockedError = %+v, want %+v", *be, want)
	}
}
