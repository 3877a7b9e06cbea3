// Package pagerduty is Herald's channel to the on-call: it pages through
// PagerDuty's Events API v2 (a trigger when an incident needs responders, a
// resolve when it is over) with the official go-pagerduty client, and reads
// PagerDuty's signed V3 webhooks (acknowledged, reassigned, annotated, ...)
// so the console can show what the on-call did.
//
// One Herald incident is one PagerDuty alert: the dedup_key is the
// incident's id, so a trigger sent again (a retry, a change of impact)
// updates the open alert rather than paging twice, and the resolve finds it.
//
// Failures come back as *comms.TemporaryError when worth retrying (429 with
// PagerDuty's Retry-After when it sends one, 408, 5xx, timeouts, refused
// connections) and as *APIError when PagerDuty refused the event for good
// (400 invalid event, a wrong routing key). The routing key is a secret: it
// is sent to PagerDuty and nowhere else, never logged nor put in an error.
package pagerduty

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/kredete/herald/comms"
)

// DefaultEventsURL is the Events API v2 enqueue endpoint.
const DefaultEventsURL = "https://events.pagerduty.com/v2/enqueue"

// DefaultSource is the payload's source when Config.Source is empty:
// PagerDuty shows it as the system the alert is about.
const DefaultSource = "herald"

// enqueuePath is what go-pagerduty appends to the endpoint it is given.
const enqueuePath = "/v2/enqueue"

// defaultTimeout bounds one request when the caller gives no *http.Client:
// a page that hangs is worse than one retried.
const defaultTimeout = 10 * time.Second

// Config is what the adapter needs to reach PagerDuty. RoutingKey is a
// secret: String, GoString and LogValue redact it, and no error carries it.
type Config struct {
	// RoutingKey is the 32-character integration key of an Events API v2
	// integration on a service, or of a ruleset or event orchestration
	// (those begin with R).
	RoutingKey string
	// EventsURL is the enqueue endpoint; DefaultEventsURL when empty. Set
	// it (HERALD_PAGERDUTY_EVENTS_URL) for a local fake, a proxy, or
	// PagerDuty's EU service region (https://events.eu.pagerduty.com/v2/enqueue).
	// A bare origin (https://host) means that origin's /v2/enqueue.
	EventsURL string
	// HTTPClient supplies the transport, timeout and redirect policy;
	// nil: http.DefaultTransport, 10 s, redirects not followed.
	HTTPClient *http.Client
	// ConsoleURL is Herald's base URL (https://herald.example.com), for the
	// link from the alert back to the incident; empty leaves the link out.
	ConsoleURL string
	// Source is the payload's source; DefaultSource when empty.
	Source string
}

// String describes the configuration with the routing key redacted.
func (c Config) String() string {
	return fmt.Sprintf("pagerduty.Config{RoutingKey: %s, EventsURL: %q, ConsoleURL: %q, Source: %q}",
		comms.Redacted(c.RoutingKey), c.EventsURL, c.ConsoleURL, c.Source)
}

// GoString keeps %#v from printing the routing key.
func (c Config) GoString() string { return c.String() }

// LogValue keeps slog from printing the routing key.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("routing_key", comms.Redacted(c.RoutingKey)),
		slog.String("events_url", c.EventsURL),
		slog.String("console_url", c.ConsoleURL),
		slog.String("source", c.Source),
	)
}

// Client sends events to PagerDuty. It is safe for concurrent use.
type Client struct {
	routingKey string
	endpoint   string // EventsURL without /v2/enqueue: go-pagerduty appends it
	consoleURL string
	source     string
	base       http.RoundTripper
	timeout    time.Duration
	redirect   func(*http.Request, []*http.Request) error
	jar        http.CookieJar
	now        func() time.Time // for a Retry-After given as a date
}

// routingKeyFormat is PagerDuty's integration key: 32 letters and digits.
var routingKeyFormat = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

// New checks cfg and returns a Client. It makes no request: PagerDuty has
// no way to check a routing key without sending an event.
func New(cfg Config) (*Client, error) {
	// A truncated paste or a REST API token in the wrong variable is caught
	// at start, rather than by the first page PagerDuty refuses.
	if !routingKeyFormat.MatchString(cfg.RoutingKey) {
		return nil, errors.New("pagerduty: routing key: want the 32-character integration key of an Events API v2 integration")
	}
	events := cfg.EventsURL
	if events == "" {
		events = DefaultEventsURL
	}
	u, err := url.Parse(events)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("pagerduty: events URL %q: want an absolute http or https URL", events)
	}
	path := strings.TrimSuffix(u.Path, "/")
	switch {
	case strings.HasSuffix(path, enqueuePath):
		path = strings.TrimSuffix(path, enqueuePath)
	case path == "":
	default:
		// go-pagerduty always posts to <endpoint>/v2/enqueue.
		return nil, fmt.Errorf("pagerduty: events URL %q: want a URL ending in %s", events, enqueuePath)
	}
	c := &Client{
		routingKey: cfg.RoutingKey,
		endpoint:   u.Scheme + "://" + u.Host + path,
		source:     strings.TrimSpace(cfg.Source),
		base:       http.DefaultTransport,
		timeout:    defaultTimeout,
		redirect:   func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		now:        time.Now,
	}
	if c.source == "" {
		c.source = DefaultSource
	}
	if cfg.ConsoleURL != "" {
		cu, err := url.Parse(cfg.ConsoleURL)
		if err != nil || (cu.Scheme != "http" && cu.Scheme != "https") || cu.Host == "" {
			return nil, fmt.Errorf("pagerduty: console URL %q: want an absolute http or https URL", cfg.ConsoleURL)
		}
		c.consoleURL = strings.TrimRight(cfg.ConsoleURL, "/")
	}
	if hc := cfg.HTTPClient; hc != nil {
		if hc.Transport != nil {
			c.base = hc.Transport
		}
		c.timeout = hc.Timeout // 0: the caller's context is the only bound
		if hc.CheckRedirect != nil {
			c.redirect = hc.CheckRedirect
		}
		c.jar = hc.Jar
	}
	return c, nil
}

// IncidentURL is the console page of an incident, "" without a console URL.
func (c *Client) IncidentURL(id string) string {
	if c.consoleURL == "" || id == "" {
		return ""
	}
	return c.consoleURL + "/console/incidents/" + url.PathEscape(id)
}
