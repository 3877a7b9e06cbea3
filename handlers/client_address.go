package handlers

import (
	"net"
	"net/http"
	"net/netip"

	"github.com/go-chi/chi/v5/middleware"
)

// Herald limits sign-in failures and subscription sign-ups per client
// address, and logs it when it refuses one. Behind a load balancer every
// connection comes from the balancer, so the client's address must come
// from X-Forwarded-For, but only as far as proxies Herald trusts wrote it:
// the header's left part is whatever the client sent.

// clientAddresses reads the client's address once per request, for
// clientAddress. With trusted proxies (HERALD_TRUSTED_PROXIES) it is chi's
// ClientIPFromXFF: from a peer outside them the header is ignored and the
// peer is the client; from a trusted peer the header is walked from the
// right past trusted addresses, and the first other address is the
// client's. A header that gives none (absent, garbage where the walk
// reaches it, or only trusted addresses) leaves no address in the
// context, and clientAddress falls back to the peer: the proxy, which is
// never the address of one client who could then escape its limit.
//
// Without trusted proxies nothing is added to the request: the peer is the
// client, and clientAddress reads it from RemoteAddr. The standard
// Forwarded header (RFC 7239) is not read: the proxies Herald is deployed
// behind (Caddy, nginx, Kubernetes ingress controllers, cloud load
// balancers) all write X-Forwarded-For, and a second syntax would be a
// second way to get it wrong.
func clientAddresses(trusted []netip.Prefix) func(http.Handler) http.Handler {
	var cidrs []string
	for _, p := range trusted {
		if p.IsValid() {
			cidrs = append(cidrs, p.String())
		}
	}
	if len(cidrs) == 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	return middleware.ClientIPFromXFF(cidrs...)
}

// clientAddress is the address of the client who sent r, for rate limits
// and logs: the one clientAddresses found, or the connection's peer.
func clientAddress(r *http.Request) string {
	if ip := middleware.GetClientIPAddr(r.Context()); ip.IsValid() {
		return ip.String()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().String() // ::ffff:192.0.2.1 from a dual-stack listener is 192.0.2.1
	}
	return host
}
