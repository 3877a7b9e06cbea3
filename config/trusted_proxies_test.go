package config_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kredete/herald/config"
)

// HERALD_TRUSTED_PROXIES: addresses and prefixes, normalised; unset trusts
// nothing.
func TestTrustedProxies(t *testing.T) {
	for in, want := range map[string][]string{
		"":                                    nil,
		" , ":                                 nil,
		"10.0.0.0/8":                          {"10.0.0.0/8"},
		"10.244.0.0/16, 172.30.80.10,fd00::1": {"10.244.0.0/16", "172.30.80.10/32", "fd00::1/128"},
		"10.1.2.3/8":                          {"10.0.0.0/8"},   // masked, as HERALD_WEBHOOK_ALLOW
		"::ffff:10.0.0.0/104":                 {"10.0.0.0/8"},   // clients are compared unmapped
		"::ffff:192.0.2.1":                    {"192.0.2.1/32"}, // likewise
		"2001:db8::/32":                       {"2001:db8::/32"},
	} {
		c, err := config.FromEnv(env(map[string]string{"HERALD_TRUSTED_PROXIES": in}))
		if err != nil {
			t.Errorf("HERALD_TRUSTED_PROXIES=%q: %v", in, err)
			continue
		}
		var got []string
		for _, p := range c.TrustedProxies {
			got = append(got, p.String())
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("HERALD_TRUSTED_PROXIES=%q (-want +got):\n%s", in, d)
		}
	}
}

// A bad entry stops the start, and the message names the variable and the
// entry.
func TestTrustedProxiesRefused(t *testing.T) {
	for in, bad := range map[string]string{
		"10.0.0.0/33":              "10.0.0.0/33",
		"10.0.0.0/8, ingress":      "ingress",
		"10.0.0.0/8;10.1.0.0/16":   "10.0.0.0/8;10.1.0.0/16",
		"fe80::1%eth0":             "fe80::1%eth0",
		"10.0.0.1:8080":            "10.0.0.1:8080",
		"10.0.0.0/8,,10.0.0.300/8": "10.0.0.300/8",
	} {
		_, err := config.FromEnv(env(map[string]string{"HERALD_TRUSTED_PROXIES": in}))
		if err == nil {
			t.Errorf("HERALD_TRUSTED_PROXIES=%q accepted", in)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "HERALD_TRUSTED_PROXIES") || !strings.Contains(msg, `"`+bad+`"`) {
			t.Errorf("HERALD_TRUSTED_PROXIES=%q: %q does not name the variable and %q", in, msg, bad)
		}
	}
}
