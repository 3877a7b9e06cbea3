package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Resolver looks up a host's addresses. net.DefaultResolver fits; tests
// pass one that answers what they need (and a rebinding one that answers
// differently the second time).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ErrInvalidURL is wrapped by every refusal of a URL's form (scheme, user
// information, host), as against its address (*BlockedError) or a
// resolver that failed.
var ErrInvalidURL = errors.New("webhook: invalid URL")

// BlockedError refuses an address that is not public: a webhook there
// could reach Herald's own network (SSRF).
type BlockedError struct {
	Host   string     // the host name that resolved to Addr; "" for an IP literal or an address dialled
	Addr   netip.Addr // the address refused
	Reason string     // what it is, in words: "a private address"
}

func (e *BlockedError) Error() string {
	if e.Host != "" {
		return fmt.Sprintf("webhook: %s resolves to %s, %s", e.Host, e.Addr, e.Reason)
	}
	return fmt.Sprintf("webhook: %s is %s", e.Addr, e.Reason)
}

// CheckURL says whether raw may be a subscriber's webhook URL: https (http
// only when every address of the host is in allow, for tests), no user
// information, any port, and a host whose every address is public or in
// allow. A host name is resolved with r; a name with one public and one
// private address is refused, since either may be the one dialled. The
// error says why in words; it names the host, never the whole URL (its path
// or query may carry a token). A resolver failure is returned wrapped, and
// is neither ErrInvalidURL nor a *BlockedError: the URL may be fine later.
//
// The check at subscription time is not enough on its own: the name may
// resolve elsewhere when the webhook is sent (DNS rebinding). Client checks
// again before each post and refuses, when dialling, any address not
// public.
func CheckURL(ctx context.Context, r Resolver, raw string, allow []netip.Prefix) error {
	_, err := checkURL(ctx, r, raw, allow)
	return err
}

// checkURL is CheckURL returning the URL parsed.
func checkURL(ctx context.Context, r Resolver, raw string, allow []netip.Prefix) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the URL whole: say only that it does not parse.
		return nil, fmt.Errorf("%w: it is not a URL", ErrInvalidURL)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("%w: the scheme must be https", ErrInvalidURL)
	case u.Opaque != "" || u.Host == "":
		return nil, fmt.Errorf("%w: it has no host", ErrInvalidURL)
	case u.User != nil:
		return nil, fmt.Errorf("%w: it must not carry a user name or password", ErrInvalidURL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: port %s is out of range", ErrInvalidURL, p)
		}
	}
	plain := u.Scheme == "http"
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if err := checkAddr(a, allow); err != nil {
			return nil, err
		}
		if plain && !allowed(a, allow) {
			return nil, fmt.Errorf("%w: the scheme must be https", ErrInvalidURL)
		}
		return u, nil
	}
	if err := checkName(host); err != nil {
		return nil, err
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("webhook: cannot resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("webhook: %s resolves to no address", host)
	}
	for _, a := range addrs {
		if err := checkAddr(a, allow); err != nil {
			var be *BlockedError
			if errors.As(err, &be) {
				be.Host = host
			}
			return nil, err
		}
		if plain && !allowed(a, allow) {
			return nil, fmt.Errorf("%w: the scheme must be https", ErrInvalidURL)
		}
	}
	return u, nil
}

// checkName refuses host names no public DNS name has: an empty label,
// characters outside letters, digits, hyphen and underscore (a Unicode
// name is given in its xn-- form), or a last label that is a number. The
// last is what inet_aton reads as an address ("2130706433", "0x7f.1",
// "127.1"), which a system resolver might hand back as 127.0.0.1.
func checkName(host string) error {
	name := strings.TrimSuffix(host, ".")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%w: the host is not a valid name", ErrInvalidURL)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("%w: the host is not a valid name", ErrInvalidURL)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%w: the host is not a valid name (give a Unicode name in its xn-- form)", ErrInvalidURL)
			}
		}
	}
	last := strings.ToLower(labels[len(labels)-1])
	if _, err := strconv.ParseUint(last, 0, 64); err == nil || strings.HasPrefix(last, "0x") {
		return fmt.Errorf("%w: the host %s looks like a number, not a name", ErrInvalidURL, host)
	}
	return nil
}

// allowed reports whether a (or the IPv4 address it maps) is in allow.
func allowed(a netip.Addr, allow []netip.Prefix) bool {
	a = a.WithZone("")
	for _, p := range allow {
		if p.Contains(a) || p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// checkAddr refuses an address that is not public, unless allow-listed.
func checkAddr(a netip.Addr, allow []netip.Prefix) error {
	if allowed(a, allow) {
		return nil
	}
	if reason := nonPublic(a.WithZone("")); reason != "" {
		return &BlockedError{Addr: a, Reason: reason}
	}
	return nil
}

// special is a range no webhook may reach, and what it is in words.
type special struct {
	prefix netip.Prefix
	what   string
}

// specials are the IANA special-purpose ranges (RFC 6890 and its updates)
// a webhook must not reach, more specific ranges first. An IPv4-mapped
// address is judged by the IPv4 address it maps, and a NAT64 address by the
// one it embeds; whatever else is not global unicast is refused after.
var specials = []special{
	{netip.MustParsePrefix("0.0.0.0/32"), "an unspecified address"},
	{netip.MustParsePrefix("0.0.0.0/8"), `a "this network" address (0.0.0.0/8)`},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address (100.64.0.0/10)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment (192.0.0.0/24)"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("192.88.99.0/24"), "a 6to4 relay address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "the broadcast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address (240.0.0.0/4)"},

	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible address (deprecated)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use NAT64 address"},
	{netip.MustParsePrefix("100::/64"), "a discard-only address"},
	{netip.MustParsePrefix("2001::/32"), "a Teredo tunnel address"},
	{netip.MustParsePrefix("2001:2::/48"), "a benchmarking address"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("2001::/23"), "an IETF protocol assignment (2001::/23)"},
	{netip.MustParsePrefix("2002::/16"), "a 6to4 tunnel address"},
	{netip.MustParsePrefix("3fff::/20"), "a documentation address"},
	{netip.MustParsePrefix("5f00::/16"), "a segment routing address"},
	{netip.MustParsePrefix("fc00::/7"), "a unique local address (fc00::/7)"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address (deprecated)"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// nonPublic says what a is when a webhook must not reach it, "" when it is
// a public address.
func nonPublic(a netip.Addr) string {
	if a.Is4In6() {
		if r := nonPublic(a.Unmap()); r != "" {
			return r + " (IPv4-mapped)"
		}
		return ""
	}
	if nat64.Contains(a) {
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:]))
		if r := nonPublic(v4); r != "" {
			return fmt.Sprintf("%s (NAT64 for %s)", r, v4)
		}
		return ""
	}
	for _, s := range specials {
		if s.prefix.Contains(a) {
			return s.what
		}
	}
	if !a.IsGlobalUnicast() {
		return "not a public unicast address"
	}
	return ""
}
