// Package slack is Herald's channel to the engineering audience: a thread in
// Slack (#incident-response) per incident, whose parent message is kept up to
// date in place and whose replies carry every update, status and component
// change, role change and failover event, plus direct messages to people
// (reminders to the commander).
//
// It speaks Slack's Web API through slack-go. Failures come back as
// *comms.TemporaryError when worth retrying (rate limits with Slack's
// Retry-After, 5xx, timeouts, refused connections) and as *APIError when
// Slack refused the call for good (channel_not_found, not_in_channel,
// invalid_auth, ...).
package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
)

// DefaultAPIURL is Slack's Web API base URL.
const DefaultAPIURL = slackapi.APIURL

// Block is a Block Kit block. It is slack-go's type, aliased so callers can
// pass the blocks this package builds without importing slack-go.
type Block = slackapi.Block

// Options configures a Client.
type Options struct {
	// APIURL is the Web API base URL (HERALD_SLACK_API_URL); empty means
	// Slack's. A trailing slash is added when missing, as slack-go needs.
	APIURL string
	// HTTPClient sends the requests; nil means a client with a 30s timeout.
	HTTPClient *http.Client
	// ConsoleURL is Herald's base URL (e.g. https://herald.kredete.com), for
	// the links back to the console; empty leaves the links out.
	ConsoleURL string
	// Now is the clock for "open for 25m"; nil means time.Now.
	Now func() time.Time
	// Interactive adds the buttons (reminders, approvals): only when
	// Slack's clicks reach Herald (HERALD_SLACK_SIGNING_SECRETS set).
	Interactive bool
}

// Client posts to one Slack workspace with one bot token.
type Client struct {
	api        *slackapi.Client
	token      string // kept only to scrub it from errors
	consoleURL string
	now        func() time.Time
	buttons    bool
}

// New returns a client for the bot token. The token is sent to Slack and
// nowhere else: it is never logged nor put in an error.
func New(token string, opts Options) *Client {
	base := opts.APIURL
	if base == "" {
		base = DefaultAPIURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Client{
		api:        slackapi.New(token, slackapi.OptionAPIURL(base), slackapi.OptionHTTPClient(hc)),
		token:      token,
		consoleURL: strings.TrimRight(opts.ConsoleURL, "/"),
		now:        now,
		buttons:    opts.Interactive,
	}
}

// AuthTest checks the token with auth.test, for a health check at start.
func (c *Client) AuthTest(ctx context.Context) error {
	_, err := c.api.AuthTestContext(ctx)
	return c.classify("auth.test", err)
}

// PostIncident posts the thread parent for an incident: its title, status,
// impact, affected components and their statuses, commander, time since
// start and a link to the console. comps holds the components by ID with
// their current status; commander is a display name ("" when unassigned).
// The receipt carries the message ts (the thread to reply in and the
// message to update) and the channel id.
func (c *Client) PostIncident(ctx context.Context, channel string, in herald.Incident, comps map[string]herald.Component, commander string) (comms.Receipt, error) {
	return c.postIncident(ctx, channel, in, comps, commander)
}

func (c *Client) postIncident(ctx context.Context, channel string, in herald.Incident, comps map[string]herald.Component, commander string,
	extra ...slackapi.MsgOption) (comms.Receipt, error) {
	text, blocks := c.parentBlocks(in, comps, commander)
	return c.post(ctx, channel, text, blocks, extra...)
}

// UpdateIncident rewrites the thread parent in place with the incident as
// it stands now. channel must be the channel id from PostIncident's receipt.
func (c *Client) UpdateIncident(ctx context.Context, channel, ts string, in herald.Incident, comps map[string]herald.Component, commander string) error {
	text, blocks := c.parentBlocks(in, comps, commander)
	_, _, _, err := c.api.UpdateMessageContext(ctx, channel, ts,
		slackapi.MsgOptionText(fallback(text), false),
		slackapi.MsgOptionBlocks(blocks...),
	)
	return c.classify("chat.update", err)
}

// Reply posts in the incident's thread. text is plain text (escaped here)
// and is what notifications show; blocks, when given, are what Slack shows
// (build them with UpdateBlocks, ChangeBlocks, RoleBlocks or EventBlocks).
func (c *Client) Reply(ctx context.Context, channel, threadTS string, text string, blocks ...Block) (comms.Receipt, error) {
	return c.reply(ctx, channel, threadTS, text, blocks)
}

func (c *Client) reply(ctx context.Context, channel, threadTS string, text string, blocks []Block, extra ...slackapi.MsgOption) (comms.Receipt, error) {
	if threadTS == "" {
		return comms.Receipt{}, errors.New("slack: reply: no thread ts")
	}
	return c.post(ctx, channel, text, blocks, append([]slackapi.MsgOption{slackapi.MsgOptionTS(threadTS)}, extra...)...)
}

// DirectMessage sends a direct message to the Slack member with the email
// (users.lookupByEmail, then chat.postMessage to the user). text is plain
// text, escaped here. An email no member has gives an *APIError matching
// ErrUserNotFound.
func (c *Client) DirectMessage(ctx context.Context, email, text string, blocks ...Block) (comms.Receipt, error) {
	return c.directMessage(ctx, email, text, blocks)
}

func (c *Client) directMessage(ctx context.Context, email, text string, blocks []Block, extra ...slackapi.MsgOption) (comms.Receipt, error) {
	if herald.IsSlackMemberID(email) {
		// A member linked to the user: posted to the member itself.
		return c.post(ctx, email, text, blocks, extra...)
	}
	u, err := c.api.GetUserByEmailContext(ctx, email)
	if err != nil {
		return comms.Receipt{}, c.classify("users.lookupByEmail", err)
	}
	return c.post(ctx, u.ID, text, blocks, extra...)
}

func (c *Client) post(ctx context.Context, channel, text string, blocks []Block, extra ...slackapi.MsgOption) (comms.Receipt, error) {
	opts := []slackapi.MsgOption{
		slackapi.MsgOptionText(fallback(text), false),
		// The console sits behind a login; Slack's unfurler would only
		// fetch the login page.
		slackapi.MsgOptionDisableLinkUnfurl(),
		slackapi.MsgOptionDisableMediaUnfurl(),
	}
	if len(blocks) > 0 {
		opts = append(opts, slackapi.MsgOptionBlocks(blocks...))
	}
	opts = append(opts, extra...)
	ch, ts, err := c.api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return comms.Receipt{}, c.classify("chat.postMessage", err)
	}
	return comms.Receipt{ProviderID: ts, Channel: ch}, nil
}

// ErrUserNotFound matches the *APIError of a direct message to an email no
// Slack member has.
var ErrUserNotFound = errors.New("slack: no Slack member has this email")

// APIError is Slack refusing a call with ok:false: not worth retrying
// (the token, the channel or the message is wrong, and stays wrong).
type APIError struct {
	Method string   // e.g. "chat.postMessage"
	Code   string   // Slack's error code, e.g. "channel_not_found"
	Detail []string // Slack's explanations, e.g. for invalid_blocks
}

// Error names the method and Slack's code, with a hint for the common ones.
func (e *APIError) Error() string {
	msg := "slack: " + e.Method + ": " + e.Code
	if hint := hints[e.Code]; hint != "" {
		msg += " (" + hint + ")"
	}
	if len(e.Detail) > 0 {
		msg += ": " + strings.Join(e.Detail, "; ")
	}
	return msg
}

// Is makes errors.Is(err, ErrUserNotFound) and errors.Is(err,
// comms.ErrNoRecipient) true for an unknown email.
func (e *APIError) Is(target error) bool {
	return (target == ErrUserNotFound || target == comms.ErrNoRecipient) && e.Code == "users_not_found"
}

var hints = map[string]string{
	"users_not_found":   "no Slack member has this email",
	"channel_not_found": "no such channel, or the app cannot see it",
	"not_in_channel":    "invite the Herald app to the channel",
	"invalid_auth":      "the bot token is not valid",
	"not_authed":        "no bot token was sent",
	"account_inactive":  "the bot token belongs to a deleted app or user",
	"token_revoked":     "the bot token was revoked",
	"missing_scope":     "the app lacks an OAuth scope",
	"is_archived":       "the channel is archived",
	"user_not_found":    "no such Slack member",
	// views.open: a trigger id opens one modal within 3 seconds.
	"expired_trigger_id":   "the trigger id is older than 3 seconds",
	"exchanged_trigger_id": "the trigger id was already used",
	"invalid_trigger_id":   "the trigger id is not one Slack gave",
}

// transientCodes are ok:false answers that say "try again later".
var transientCodes = map[string]bool{
	"ratelimited": true, "rate_limited": true, "internal_error": true, "fatal_error": true,
	"service_unavailable": true, "request_timeout": true,
}

// classify turns slack-go's errors into Herald's: retryable ones become
// *comms.TemporaryError, refusals *APIError. The token never appears in
// what it returns.
func (c *Client) classify(method string, err error) error {
	if err == nil {
		return nil
	}
	temp := func(err error, after time.Duration) error {
		return &comms.TemporaryError{Err: c.scrub(fmt.Errorf("slack: %s: %w", method, err)), RetryAfter: after}
	}
	if rl, ok := errors.AsType[*slackapi.RateLimitedError](err); ok {
		// TemporaryError says how long to wait; slack-go's text says it too.
		return &comms.TemporaryError{Err: &described{msg: "slack: " + method + ": rate limited", err: err}, RetryAfter: rl.RetryAfter}
	}
	if sc, ok := errors.AsType[slackapi.StatusCodeError](err); ok {
		if sc.Code >= 500 || sc.Code == http.StatusTooManyRequests {
			return temp(err, 0)
		}
		return c.scrub(fmt.Errorf("slack: %s: %w", method, err))
	}
	if se, ok := errors.AsType[slackapi.SlackErrorResponse](err); ok {
		if transientCodes[se.Err] {
			return temp(err, 0)
		}
		ae := &APIError{Method: method, Code: se.Err}
		ae.Detail = append(ae.Detail, se.ResponseMetadata.Messages...)
		return c.scrub(ae)
	}
	var ne net.Error
	var ue *url.Error
	var se *json.SyntaxError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.As(err, &ne), errors.As(err, &ue),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &se):
		// The request may not have reached Slack, or its answer was lost
		// or garbled (a proxy's HTML page): worth another try.
		return temp(err, 0)
	}
	return c.scrub(fmt.Errorf("slack: %s: %w", method, err))
}

// scrub keeps the token out of an error's text, should any layer below
// ever echo it, and keeps the error chain.
func (c *Client) scrub(err error) error {
	if c.token == "" || !strings.Contains(err.Error(), c.token) {
		return err
	}
	return &described{msg: strings.ReplaceAll(err.Error(), c.token, "[redacted]"), err: err}
}

// described is an error with its own text and its cause kept for errors.Is
// and errors.As.
type described struct {
	msg string
	err error
}

func (d *described) Error() string { return d.msg }
func (d *described) Unwrap() error { return d.err }
