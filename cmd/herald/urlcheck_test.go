package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestPublicCheckerHidesDNS: the sign-up form says a name is not public
// without saying what it resolves to (or whether it resolves), so it
// cannot map Herald's internal DNS; an IP literal's range is said as is.
func TestPublicCheckerHidesDNS(t *testing.T) {
	c := newURLChecker(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx := context.Background()
	err := c.CheckURL(ctx, "https://localhost:8443/hook?token=s3cret")
	if err == nil || !strings.Contains(err.Error(), "localhost:8443 is not a public address") ||
		strings.Contains(err.Error(), "127.0.0.1") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a name resolving to loopback: %v", err)
	}
	err = c.CheckURL(ctx, "https://no-such-host.invalid/hook")
	if err == nil || !strings.Contains(err.Error(), "is not a public address") {
		t.Errorf("a name that does not resolve: %v", err)
	}
	if err := c.CheckURL(ctx, "https://10.0.0.5/hook"); err == nil || !strings.Contains(err.Error(), "10.0.0.5") {
		t.Errorf("an IP literal: %v", err)
	}
	if err := c.CheckURL(ctx, "http://example.com/hook"); err == nil || !strings.Contains(err.Error(), "https://") {
		t.Errorf("a plain-http URL is refused for its form: %v", err)
	}
}
