package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/sms"
	"github.com/kredete/herald/handlers"
	"github.com/kredete/herald/store/storetest"
)

const (
	twilioAccount = "AC0123456789abcdef0123456789abcdef"
	twilioToken   = "f00dfacef00dfacef00dfacef00dface"
	twilioFrom    = "+15017122661"
	execPhone     = "+15005550006"
	smsSID        = "SM0123456789abcdef0123456789abcdef"
)

// smsConsole is a console whose store queues deliveries for a plan that
// gives the executives a phone, and a second server of the same stack with
// Twilio's status callback wired as cmd/herald wires it.
type smsConsole struct {
	*console
	plan herald.Plan // the plan deliveries are queued for
	hook string      // the status callback URL Twilio is given and signs
	wh   *httptest.Server
}

func newSMSConsole(t *testing.T, dialect string) *smsConsole {
	t.Helper()
	c := newConsole(t, envOptions{dialect: dialect})
	plan := c.plan
	plan.Audiences = slices.Clone(plan.Audiences)
	phones := false
	for i := range plan.Audiences {
		if plan.Audiences[i].Key == "executives" {
			plan.Audiences[i].Recipients.Phones = []string{execPhone}
			phones = true
		}
	}
	if !phones {
		t.Fatal("the default plan has no executives audience")
	}
	c.store.EnableDeliveries(plan)

	srv := httptest.NewUnstartedServer(nil)
	hook := "http://" + srv.Listener.Addr().String() + "/webhooks/twilio/status"
	client, err := sms.New(sms.Config{AccountSID: twilioAccount, AuthToken: twilioToken, From: twilioFrom,
		StatusCallbackURL: hook})
	if err != nil {
		t.Fatal(err)
	}
	deps := c.deps
	// As cmd/herald's twilioCallback does.
	deps.TwilioCallback = func(r *http.Request) (handlers.DeliveryStatus, error) {
		st, err := client.ParseStatusCallback(r, "")
		if errors.Is(err, sms.ErrSignature) {
			return handlers.DeliveryStatus{}, fmt.Errorf("%w: %v", handlers.ErrBadSignature, err)
		}
		if err != nil {
			return handlers.DeliveryStatus{}, err
		}
		problem := ""
		if st.ErrorCode != 0 {
			problem = fmt.Sprintf("Twilio error %d", st.ErrorCode)
		}
		return handlers.DeliveryStatus{ProviderID: st.MessageSID, Status: st.MessageStatus, Problem: problem}, nil
	}
	deps.DeliveryStatus = c.store
	srv.Config.Handler = handlers.New(deps)
	srv.Start()
	t.Cleanup(srv.Close)
	return &smsConsole{console: c, plan: plan, hook: hook, wh: srv}
}

// incidentWithSMS declares an incident as the commander and tells the
// executives, which queues an SMS; it returns the incident and the SMS
// delivery's id.
func (c *smsConsole) incidentWithSMS(b *browser) (incidentID, smsID string) {
	b.t.Helper()
	ctx := context.Background()
	id := c.declare(b, nil)
	in, err := c.store.Incident(ctx, id)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := c.store.Compose(ctx, id, in.Version, herald.Composition{Main: "Card payments are failing; we are on it.",
		Audiences: []string{"executives"}}, c.plan, "test"); err != nil {
		b.t.Fatal(err)
	}
	for _, d := range c.deliveries(id) {
		if d.Channel == herald.ChannelSMS {
			if d.Recipient != execPhone {
				b.t.Errorf("the SMS goes to %q, want %s", d.Recipient, execPhone)
			}
			return id, d.ID
		}
	}
	b.t.Fatalf("telling the executives queued no SMS: %+v", c.deliveries(id))
	return "", ""
}

func (c *smsConsole) deliveries(incidentID string) []herald.Delivery {
	c.t.Helper()
	ds, err := c.store.Deliveries(context.Background(), incidentID, 200)
	if err != nil {
		c.t.Fatal(err)
	}
	return ds
}

func (c *smsConsole) delivery(id string) herald.Delivery {
	c.t.Helper()
	d, err := c.store.Delivery(context.Background(), id)
	if err != nil {
		c.t.Fatal(err)
	}
	return d
}

// callback posts a status callback to base's webhook; sig "" sends none.
func callback(t testing.TB, base string, params url.Values, sig string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/twilio/status", strings.NewReader(params.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig != "" {
		req.Header.Set("X-Twilio-Signature", sig)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	buf, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Code: res.StatusCode, Header: res.Header, Body: buf}
}

func statusParams(sid, status string, extra ...string) url.Values {
	p := url.Values{"AccountSid": {twilioAccount}, "From": {twilioFrom}, "To": {execPhone}, "ApiVersion": {"2010-04-01"}}
	if sid != "" {
		p.Set("MessageSid", sid)
		p.Set("SmsSid", sid)
	}
	if status != "" {
		p.Set("MessageStatus", status)
		p.Set("SmsStatus", status)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		p.Set(extra[i], extra[i+1])
	}
	return p
}

// signed posts params signed as Twilio signs them for the configured URL.
func (c *smsConsole) signed(t testing.TB, params url.Values) response {
	t.Helper()
	return callback(t, c.wh.URL, params, sms.Sign(twilioToken, c.hook, params))
}

func wantJSONError(t testing.TB, r response, code int, what string) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("%s: %d, want %d: %s", what, r.Code, code, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want JSON", what, ct)
	}
	var body struct {
		Error struct {
			Status  int    `json:"status"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Error.Status != code || body.Error.Message == "" {
		t.Errorf("%s: body %s, want a JSON error with status %d (%v)", what, r.Body, code, err)
	}
}

func forEachSMSConsole(t *testing.T, f func(t *testing.T, c *smsConsole)) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, newSMSConsole(t, d))
		})
	}
}

func TestTwilioStatusCallback(t *testing.T) {
	forEachSMSConsole(t, func(t *testing.T, c *smsConsole) {
		ctx := context.Background()
		id, smsID := c.incidentWithSMS(c.as(t, herald.RoleCommander))
		if err := c.store.FinishAttempt(ctx, smsID, herald.DeliverySent, smsSID, ""); err != nil {
			t.Fatal(err)
		}

		if r := c.signed(t, statusParams(smsSID, "delivered")); r.Code != http.StatusNoContent {
			t.Fatalf("a signed delivered callback: %d, want 204: %s", r.Code, r.Body)
		}
		d := c.delivery(smsID)
		if d.ProviderStatus != "delivered" || d.State != herald.DeliverySent || d.LastError != "" {
			t.Errorf("after delivered: state %s, provider status %q, error %q; want sent, delivered, none",
				d.State, d.ProviderStatus, d.LastError)
		}

		if r := c.signed(t, statusParams(smsSID, "undelivered", "ErrorCode", "30003")); r.Code != http.StatusNoContent {
			t.Fatalf("a signed undelivered callback: %d, want 204: %s", r.Code, r.Body)
		}
		d = c.delivery(smsID)
		if d.ProviderStatus != "undelivered" || d.LastError != "Twilio error 30003" {
			t.Errorf("after undelivered: provider status %q, error %q; want undelivered, Twilio error 30003",
				d.ProviderStatus, d.LastError)
		}

		// A message Herald did not send is acknowledged (Twilio would
		// retry anything else) and changes nothing.
		before := c.deliveries(id)
		if r := c.signed(t, statusParams("SMffffffffffffffffffffffffffffffff", "delivered")); r.Code != http.StatusNoContent {
			t.Errorf("a callback for an unknown SID: %d, want 204: %s", r.Code, r.Body)
		}
		if diff := cmp.Diff(before, c.deliveries(id)); diff != "" {
			t.Errorf("a callback for an unknown SID changed deliveries (-before +after):\n%s", diff)
		}
	})
}

func TestTwilioStatusCallbackRefused(t *testing.T) {
	forEachSMSConsole(t, func(t *testing.T, c *smsConsole) {
		ctx := context.Background()
		id, smsID := c.incidentWithSMS(c.as(t, herald.RoleCommander))
		if err := c.store.FinishAttempt(ctx, smsID, herald.DeliverySent, smsSID, ""); err != nil {
			t.Fatal(err)
		}
		before := c.deliveries(id)
		p := statusParams(smsSID, "failed", "ErrorCode", "30008")
		tampered := statusParams(smsSID, "delivered")
		for _, tc := range []struct {
			what   string
			params url.Values
			sig    string
			code   int
		}{
			{"unsigned", p, "", http.StatusUnauthorized},
			{"signed with another token", p, sms.Sign("0000000000000000000000000000dead", c.hook, p), http.StatusUnauthorized},
			{"signed for another URL", p, sms.Sign(twilioToken, "https://evil.example/webhooks/twilio/status", p), http.StatusUnauthorized},
			{"garbage signature", p, "not-a-signature", http.StatusUnauthorized},
			{"parameters changed after signing", p, sms.Sign(twilioToken, c.hook, tampered), http.StatusUnauthorized},
			{"signed without MessageSid", statusParams("", "delivered"),
				sms.Sign(twilioToken, c.hook, statusParams("", "delivered")), http.StatusBadRequest},
			{"signed with a bad ErrorCode", statusParams(smsSID, "failed", "ErrorCode", "x"),
				sms.Sign(twilioToken, c.hook, statusParams(smsSID, "failed", "ErrorCode", "x")), http.StatusBadRequest},
		} {
			r := callback(t, c.wh.URL, tc.params, tc.sig)
			wantJSONError(t, r, tc.code, tc.what)
			if diff := cmp.Diff(before, c.deliveries(id)); diff != "" {
				t.Errorf("%s: deliveries changed (-before +after):\n%s", tc.what, diff)
			}
		}
		if d := c.delivery(smsID); d.ProviderStatus != "" {
			t.Errorf("refused callbacks left provider status %q", d.ProviderStatus)
		}
	})
}

func TestTwilioStatusCallbackNotConfigured(t *testing.T) {
	forEachDialect(t, adminToken, func(t *testing.T, e *env) {
		p := statusParams(smsSID, "delivered")
		r := e.do(http.MethodPost, "/webhooks/twilio/status", strings.NewReader(p.Encode()),
			"Content-Type", "application/x-www-form-urlencoded",
			"X-Twilio-Signature", sms.Sign(twilioToken, "http://example.com/webhooks/twilio/status", p))
		wantJSONError(t, r, http.StatusNotFound, "a status callback without SMS configured")
	})
}

// deliveryRows reads the delivery log's rows as channel/state pairs.
func deliveryRows(t testing.TB, doc *html.Node) []string {
	t.Helper()
	var out []string
	for _, row := range queryAll(t, doc, "#deliveries table[data-testid=deliveries] tbody tr") {
		ch, _ := attr(row, "data-channel")
		st, _ := attr(row, "data-state")
		out = append(out, ch+"/"+st)
	}
	return out
}

func TestConsoleDeliveryLogEmpty(t *testing.T) {
	forEachConsole(t, func(t *testing.T, c *console) {
		b := c.as(t, herald.RoleCommander)
		id := c.declare(b, nil)
		doc := b.page("/console/incidents/" + id)
		sec := queryOne(t, doc, "section#deliveries")
		queryOne(t, sec, "[data-testid=no-deliveries]")
		if n := len(queryAll(t, sec, "[data-testid=deliveries]")); n != 0 {
			t.Errorf("an incident with nothing queued shows %d delivery tables", n)
		}
		if n := len(queryAll(t, sec, "[data-testid=deliveries-failed]")); n != 0 {
			t.Error("an incident with nothing queued shows the failure banner")
		}
	})
}

func TestConsoleDeliveryLog(t *testing.T) {
	forEachSMSConsole(t, func(t *testing.T, c *smsConsole) {
		ctx := context.Background()
		b := c.as(t, herald.RoleCommander)
		id, smsID := c.incidentWithSMS(b)
		ds := c.deliveries(id)
		var want []string
		for _, d := range ds {
			if d.State != herald.DeliveryQueued {
				t.Errorf("a new delivery is %s, want queued", d.State)
			}
			want = append(want, string(d.Channel)+"/queued")
		}
		if !slices.Contains(want, "slack/queued") || !slices.Contains(want, "email/queued") || !slices.Contains(want, "sms/queued") {
			t.Fatalf("queued %q, want the Slack thread, the executives' email and SMS", want)
		}
		doc := b.page("/console/incidents/" + id)
		if got := deliveryRows(t, doc); !slices.Equal(got, want) {
			t.Errorf("rows %q, want %q (newest first)", got, want)
		}
		if n := len(queryAll(t, doc, "#deliveries [data-testid=no-deliveries]")); n != 0 {
			t.Error("the empty state is shown next to deliveries")
		}
		if n := len(queryAll(t, doc, "[data-testid=deliveries-failed]")); n != 0 {
			t.Error("the failure banner is shown with nothing failed")
		}

		// The email fails with a vendor error that carries markup; the SMS
		// is sent and Twilio later says it was not delivered.
		var emailID string
		for _, d := range ds {
			if d.Channel == herald.ChannelEmail {
				emailID = d.ID
			}
		}
		evil := `<script>alert("owned")</script> mailbox unavailable`
		if err := c.store.FinishAttempt(ctx, emailID, herald.DeliveryFailed, "", evil); err != nil {
			t.Fatal(err)
		}
		if err := c.store.FinishAttempt(ctx, smsID, herald.DeliverySent, smsSID, ""); err != nil {
			t.Fatal(err)
		}
		if r := c.signed(t, statusParams(smsSID, "undelivered", "ErrorCode", "30003")); r.Code != http.StatusNoContent {
			t.Fatalf("undelivered callback: %d: %s", r.Code, r.Body)
		}

		r := b.get("/console/incidents/" + id)
		if r.Code != http.StatusOK {
			t.Fatalf("incident page: %d", r.Code)
		}
		if strings.Contains(string(r.Body), "<script>alert") {
			t.Error("the vendor's error is written into the page as markup")
		}
		doc = parseHTML(t, r.Body)
		want = nil
		for _, d := range c.deliveries(id) {
			want = append(want, string(d.Channel)+"/"+string(d.State))
		}
		if got := deliveryRows(t, doc); !slices.Equal(got, want) {
			t.Errorf("rows %q, want %q", got, want)
		}
		if !slices.Contains(want, "email/failed") || !slices.Contains(want, "sms/sent") {
			t.Errorf("states %q, want the email failed and the SMS sent", want)
		}
		banner := queryOne(t, doc, "#deliveries [data-testid=deliveries-failed]")
		// The failed email and the SMS Twilio reported undelivered.
		if got := text(banner); !strings.Contains(got, "2 messages could not be delivered") {
			t.Errorf("banner %q", got)
		}
		if n := len(queryAll(t, doc, "#deliveries script")); n != 0 {
			t.Errorf("the delivery log holds %d script elements", n)
		}
		errs := texts(queryAll(t, doc, "#deliveries .delivery-error"))
		if !slices.ContainsFunc(errs, func(s string) bool { return strings.Contains(s, evil) }) {
			t.Errorf("delivery errors shown %q, want the email's %q as text", errs, evil)
		}
		// Twilio's word on the SMS: its status and its error.
		for _, row := range queryAll(t, doc, "#deliveries table[data-testid=deliveries] tbody tr[data-channel=sms]") {
			got := text(row)
			if !strings.Contains(got, smsSID) || !strings.Contains(got, "undelivered") || !strings.Contains(got, "Twilio error 30003") {
				t.Errorf("the SMS row %q does not show its SID, Twilio's undelivered and the error", got)
			}
		}
	})
}
