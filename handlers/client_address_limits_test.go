package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/kredete/herald"
	"github.com/kredete/herald/handlers"
	"github.com/kredete/herald/store/storetest"
)

// The load balancer of these tests: one address in a trusted pod network.
const lbAddr = "10.0.0.2"

var podNetwork = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}

// Behind a trusted proxy every connection comes from the proxy, yet each
// client has its own sign-in budget: an attacker locks out only itself,
// even when it forges the header's left part on every try.
func TestSignInThrottledPerClientBehindProxy(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			c := newConsole(t, envOptions{dialect: d, trustedProxies: podNetwork})
			const attacker, other = "203.0.113.7", "198.51.100.9"
			email := c.users[herald.RoleResponder].Email
			// What the proxy forwards: whatever the client sent, then the
			// address it connected from.
			via := func(client, forged string) []string {
				return []string{"X-Forwarded-For", forged + ", " + client}
			}
			for i := range 20 {
				forged := "192.0.2." + strconv.Itoa(i+1)
				if r := c.signInFrom(lbAddr, "user"+strconv.Itoa(i)+"@kredete.test", "guess", via(attacker, forged)...); r.Code != http.StatusUnauthorized {
					t.Fatalf("failure %d: %d, want 401", i+1, r.Code)
				}
			}
			if r := c.signInFrom(lbAddr, email, testPassword, via(attacker, "192.0.2.99")...); r.Code != http.StatusTooManyRequests {
				t.Fatalf("the attacker after 20 failures: %d, want 429", r.Code)
			}
			if r := c.signInFrom(lbAddr, email, testPassword, via(other, "192.0.2.99")...); r.Code != http.StatusSeeOther {
				t.Fatalf("another client through the same proxy: %d, want 303 (the proxy's clients share one budget)", r.Code)
			}
			// The log names the client, not the proxy.
			if !logLine(c.logs.String(), `msg="sign-in throttled" address=`+attacker+" ") {
				t.Errorf("no throttle log line naming %s:\n%s", attacker, c.logs.String())
			}
		})
	}
}

// A client that reaches Herald directly cannot escape its sign-in limit
// by sending X-Forwarded-For: not when no proxy is trusted (the default),
// nor when proxies are trusted but the client is not one of them.
func TestSignInForgedForwardedFor(t *testing.T) {
	for _, c := range []struct {
		name    string
		trusted []netip.Prefix
	}{{"unset", nil}, {"client not a trusted proxy", podNetwork}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			con := newConsole(t, envOptions{trustedProxies: c.trusted})
			const attacker = "192.0.2.10"
			email := con.users[herald.RoleResponder].Email
			for i := range 20 {
				// A new address every time, and a trusted-looking hop.
				forged := "198.51.100." + strconv.Itoa(i+1) + ", " + lbAddr
				if r := con.signInFrom(attacker, "user"+strconv.Itoa(i)+"@kredete.test", "guess", "X-Forwarded-For", forged); r.Code != http.StatusUnauthorized {
					t.Fatalf("failure %d: %d, want 401", i+1, r.Code)
				}
			}
			r := con.signInFrom(attacker, email, testPassword, "X-Forwarded-For", "198.51.100.200", "Forwarded", "for=198.51.100.201")
			if r.Code != http.StatusTooManyRequests {
				t.Fatalf("after 20 failures, with a new forged address: %d, want 429", r.Code)
			}
			if !logLine(con.logs.String(), `msg="sign-in throttled" address=`+attacker+" ") {
				t.Errorf("no throttle log line naming %s:\n%s", attacker, con.logs.String())
			}
		})
	}
}

// Subscription sign-ups are counted per client network behind the proxy
// too: one network's flood leaves the others' budget alone.
func TestSubscribeLimitPerNetworkBehindProxy(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			e := subscriptionEnv(t, dialect, &mailRecorder{})
			d := e.deps
			d.TrustedProxies = podNetwork
			e.deps = d
			e.h = handlers.New(d)
			sub := func(client, email string) response {
				return e.postForm("/subscribe", lbAddr, url.Values{"email": {email}, "scope": {"all"}}, "X-Forwarded-For", client)
			}
			for i := range herald.MaxSubscribesPerNetwork {
				if r := sub("203.0.113."+strconv.Itoa(i+1), "n"+strconv.Itoa(i)+"@example.com"); r.Code != http.StatusOK {
					t.Fatalf("sign-up %d = %d: %s", i+1, r.Code, r.Body)
				}
			}
			checkLimited(t, sub("203.0.113.250", "new@example.com"))
			if r := sub("198.51.100.9", "other@example.com"); r.Code != http.StatusOK {
				t.Errorf("another network through the same proxy = %d; want 200", r.Code)
			}
		})
	}
}

// The status page's hot path answers before the router and its
// middleware: trusting proxies adds no work there.
func TestTrustedProxiesHotPathUnchanged(t *testing.T) {
	allocs := func(trusted []netip.Prefix) float64 {
		e := newEnv(t, envOptions{trustedProxies: trusted})
		r := httptest.NewRequest(http.MethodGet, "/api/v2/summary.json", nil)
		r.RemoteAddr = lbAddr + ":51000"
		r.Header.Set("X-Forwarded-For", "203.0.113.7")
		w := &discardWriter{h: http.Header{}}
		return testing.AllocsPerRun(200, func() {
			clear(w.h)
			w.code, w.bytes = 0, 0
			e.h.ServeHTTP(w, r)
		})
	}
	if off, on := allocs(nil), allocs(podNetwork); on != off {
		t.Errorf("GET summary.json: %v allocations a request with trusted proxies, %v without", on, off)
	}
}

// logLine tells whether a line of logs contains all of want.
func logLine(logs string, want ...string) bool {
	for _, line := range strings.Split(logs, "\n") {
		all := true
		for _, w := range want {
			all = all && strings.Contains(line, w)
		}
		if all {
			return true
		}
	}
	return false
}
