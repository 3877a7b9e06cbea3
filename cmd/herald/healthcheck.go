package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheckTimeout bounds the whole check: connect, request and response.
const healthcheckTimeout = 3 * time.Second

// healthcheck asks the Herald running in this container whether it is ready
// to serve: it GETs /readyz on the port of HERALD_ADDR and fails unless the
// answer is 200. It exists for Docker's HEALTHCHECK, because the distroless
// image has no shell and no curl:
//
//	HEALTHCHECK CMD ["/herald", "healthcheck"]
//
// A wildcard or empty host in HERALD_ADDR (":8080", "0.0.0.0:8080",
// "[::]:8080") is checked on 127.0.0.1; a specific host is checked as given,
// since a server bound to one address does not answer on loopback.
func healthcheck(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	addr := getenv("HERALD_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080" // config.FromEnv's default
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: HERALD_ADDR %q: %w", addr, err)
	}
	if port == "" || port == "0" {
		return fmt.Errorf("healthcheck: HERALD_ADDR %q has no fixed port to check", addr)
	}
	switch host {
	case "", "0.0.0.0", "::", "localhost":
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/readyz"

	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	// No proxy from the environment: this is a loopback check.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s: %s", url, resp.Status, trimBody(body))
	}
	fmt.Fprintf(stdout, "herald: ready (%s)\n", url)
	return nil
}

func trimBody(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return string(b)
}
