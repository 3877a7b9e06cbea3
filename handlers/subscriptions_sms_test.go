package handlers_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/sms"
	"github.com/kredete/herald/comms/webhook"
	"github.com/kredete/herald/handlers"
	"github.com/kredete/herald/store/storetest"
)

// inboundURL is the public URL Twilio is given for incoming messages
// (the account and token are deliveries_test.go's).
const inboundURL = "https://herald.example.com/webhooks/twilio/inbound"

// sentText is one text the recording Texter was asked to send.
type sentText struct{ To, Body string }

// textRecorder is a handlers.Texter that keeps what it is given (the
// Twilio adapter's own send path is tested against twiliotest in
// comms/sms).
type textRecorder struct {
	mu   sync.Mutex
	sent []sentText
	fail error
}

func (t *textRecorder) SendSubscriptionText(_ context.Context, to, body string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fail != nil {
		return t.fail
	}
	t.sent = append(t.sent, sentText{to, body})
	return nil
}

func (t *textRecorder) all() []sentText {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]sentText(nil), t.sent...)
}

var codeRe = regexp.MustCompile(`code is ([0-9]{6})\.`)

// lastCode is the code in the last text to a number.
func (t *textRecorder) lastCode(tb testing.TB, to string) string {
	tb.Helper()
	all := t.all()
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].To == to {
			if m := codeRe.FindStringSubmatch(all[i].Body); m != nil {
				return m[1]
			}
			tb.Fatalf("the last text to %s has no code: %q", to, all[i].Body)
		}
	}
	tb.Fatalf("no text to %s", to)
	return ""
}

// channelEnv wires the subscription pages with every channel: mail, SMS
// (the recorder, and the real Twilio inbound verification) and webhooks
// (the real SSRF check, given IP literals only: no DNS).
func channelEnv(t *testing.T, dialect string, mailer handlers.Mailer, texter handlers.Texter) *env {
	t.Helper()
	e := newEnv(t, envOptions{dialect: dialect})
	c, err := sms.New(sms.Config{AccountSID: twilioAccount, AuthToken: twilioToken, From: twilioFrom})
	if err != nil {
		t.Fatal(err)
	}
	d := e.deps
	d.Subscriptions = e.store
	d.Mailer = mailer
	d.Now = e.clock.Now
	if texter != nil {
		d.Texter = texter
	}
	d.URLChecker = webhook.New(webhook.Config{})
	d.TwilioInbound = func(r *http.Request) (handlers.InboundText, error) {
		in, err := c.ParseInbound(r, inboundURL)
		if errors.Is(err, sms.ErrSignature) {
			return handlers.InboundText{}, errors.Join(handlers.ErrBadSignature, err)
		}
		return handlers.InboundText{From: in.From, Body: in.Body}, err
	}
	e.deps = d
	e.h = handlers.New(d)
	return e
}

// inbound posts a text to /webhooks/twilio/inbound as Twilio does, signed
// with authToken for inboundURL.
func (e *env) inbound(authToken, from, body string) response {
	e.t.Helper()
	form := url.Values{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "AccountSid": {twilioAccount},
		"From": {from}, "To": {"+15017122661"}, "Body": {body}, "NumMedia": {"0"}, "NumSegments": {"1"}}
	return e.postForm("/webhooks/twilio/inbound", "54.172.60.1", form,
		"X-Twilio-Signature", sms.Sign(authToken, inboundURL, form))
}

func (e *env) smsState(t *testing.T, number string) map[herald.SubscriberState]int {
	t.Helper()
	counts, err := e.store.CountSubscribers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return counts[herald.SubscriberSMS]
}

func smsSubscribe(e *env, remote, phone string) response {
	return e.postForm("/subscribe", remote, url.Values{"channel": {"sms"}, "phone": {phone}, "scope": {"all"}})
}

func confirmCode(e *env, remote, number, code string) response {
	return e.postForm("/subscriptions/sms/confirm", remote, url.Values{"number": {number}, "code": {code}})
}

// codeError is the message next to the code field, checking it is there.
func codeError(t *testing.T, r response) string {
	t.Helper()
	if r.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d; want 422: %s", r.Code, r.Body)
	}
	return text(queryOne(t, parseHTML(t, r.Body), `.field.has-error [data-testid=error-code]`))
}

func wrongCode(code string) string {
	n, _ := strconv.Atoi(code)
	return strconv.Itoa(100000 + (n+1)%900000)
}

func TestSMSSubscriptionFlow(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			texts := &textRecorder{}
			e := channelEnv(t, d, &mailRecorder{}, texts)
			const number = "+27821234567"

			page := parseHTML(t, e.getOK("/subscribe?via=sms").Body)
			queryOne(t, page, `[data-testid=tab-sms][aria-current=page]`)
			queryOne(t, page, `form[action="/subscribe"] input[name=phone]`)
			queryOne(t, page, `form[action="/subscribe"] input[name=channel][value=sms]`)

			r := e.postForm("/subscribe", "192.0.2.10", url.Values{"channel": {"sms"}, "phone": {"+27 82 123-4567"},
				"scope": {"some"}, "component": {e.ids["api-platform"]}})
			if r.Code != http.StatusOK {
				t.Fatalf("POST /subscribe = %d: %s", r.Code, r.Body)
			}
			doc := parseHTML(t, r.Body)
			queryOne(t, doc, `[data-testid=sms-code]`)
			if v, _ := attr(queryOne(t, doc, `form[action="/subscriptions/sms/confirm"] input#number`), "value"); v != number {
				t.Errorf("number on the code page = %q", v)
			}
			sent := texts.all()
			if len(sent) != 1 || sent[0].To != number || !strings.Contains(sent[0].Body, "15 minutes") {
				t.Fatalf("texts: %+v", sent)
			}
			code := texts.lastCode(t, number)
			if got := e.smsState(t, number); got[herald.SubscriberPending] != 1 {
				t.Fatalf("before the code: %v", got)
			}

			// A wrong code and an unknown number read the same.
			wrong := codeError(t, confirmCode(e, "192.0.2.10", number, wrongCode(code)))
			unknown := codeError(t, confirmCode(e, "192.0.2.10", "+27829999999", code))
			if wrong != unknown || wrong == "" {
				t.Errorf("wrong code %q, unknown number %q: want one message", wrong, unknown)
			}
			// A malformed code or number is said next to its field.
			if msg := codeError(t, confirmCode(e, "192.0.2.10", number, "12ab")); msg == wrong {
				t.Errorf("a malformed code got the refusal message")
			}
			r = confirmCode(e, "192.0.2.10", "0821234567", code)
			queryOne(t, parseHTML(t, r.Body), `.field.has-error [data-testid=error-number]`)

			// The right code, typed with a space.
			r = confirmCode(e, "192.0.2.10", "+27 82 123 4567", code[:3]+" "+code[3:])
			if r.Code != http.StatusOK {
				t.Fatalf("right code = %d: %s", r.Code, r.Body)
			}
			doc = parseHTML(t, r.Body)
			queryOne(t, doc, `[data-testid=confirmed]`)
			if got := e.smsState(t, number); got[herald.SubscriberConfirmed] != 1 {
				t.Fatalf("after the code: %v", got)
			}
			href, _ := attr(queryOne(t, doc, `a[data-testid=manage-link]`), "href")
			manage := parseHTML(t, e.getOK(href).Body)
			if !strings.Contains(text(queryOne(t, manage, `[data-testid=manage]`)), number) {
				t.Error("the manage page does not name the number")
			}
			// The code is spent: the same message as any other.
			if msg := codeError(t, confirmCode(e, "192.0.2.10", number, code)); msg != wrong {
				t.Errorf("a spent code: %q", msg)
			}

			// Subscribing a confirmed number again: the same page, and a
			// text with the manage link instead of a code.
			again := smsSubscribe(e, "192.0.2.11", number)
			fresh := smsSubscribe(e, "192.0.2.12", "+27820000001")
			norm := func(r response) string {
				return strings.NewReplacer(number, "X", "+27820000001", "X").Replace(string(r.Body))
			}
			if again.Code != http.StatusOK || fresh.Code != again.Code || norm(again) != norm(fresh) {
				t.Errorf("known %d and unknown %d numbers answered differently", again.Code, fresh.Code)
			}
			last := texts.all()
			if m := last[len(last)-2]; m.To != number || codeRe.MatchString(m.Body) || !strings.Contains(m.Body, "/subscriptions/manage?token=") {
				t.Errorf("text to a confirmed number: %+v", m)
			}
		})
	}
}

func TestSMSCodeExpires(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			texts := &textRecorder{}
			e := channelEnv(t, d, nil, texts)
			const number = "+447700900123"
			if r := smsSubscribe(e, "192.0.2.10", number); r.Code != http.StatusOK {
				t.Fatalf("subscribe = %d", r.Code)
			}
			code := texts.lastCode(t, number)
			e.clock.Set(e.clock.Now().Add(herald.SMSCodeWindow + time.Second))
			if msg := codeError(t, confirmCode(e, "192.0.2.10", number, code)); msg == "" {
				t.Error("no message")
			}
			if got := e.smsState(t, number); got[herald.SubscriberConfirmed] != 0 {
				t.Errorf("an expired code confirmed: %v", got)
			}
			// A new code works.
			smsSubscribe(e, "192.0.2.10", number)
			if r := confirmCode(e, "192.0.2.10", number, texts.lastCode(t, number)); r.Code != http.StatusOK {
				t.Errorf("new code = %d", r.Code)
			}
		})
	}
}

func TestSMSCodeVoidAfterWrongTries(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			texts := &textRecorder{}
			e := channelEnv(t, d, nil, texts)
			const number = "+447700900124"
			smsSubscribe(e, "192.0.2.10", number)
			code := texts.lastCode(t, number)
			for range herald.MaxCodeTries {
				codeError(t, confirmCode(e, "192.0.2.10", number, wrongCode(code)))
			}
			if msg := codeError(t, confirmCode(e, "192.0.2.10", number, code)); msg == "" {
				t.Error("no message")
			}
			if got := e.smsState(t, number); got[herald.SubscriberConfirmed] != 0 {
				t.Fatalf("the right code after %d wrong ones confirmed: %v", herald.MaxCodeTries, got)
			}
			// Four wrong, then right: confirmed (the tries are per code).
			smsSubscribe(e, "192.0.2.10", number)
			code = texts.lastCode(t, number)
			for range herald.MaxCodeTries - 1 {
				codeError(t, confirmCode(e, "192.0.2.10", number, wrongCode(code)))
			}
			if r := confirmCode(e, "192.0.2.10", number, code); r.Code != http.StatusOK {
				t.Errorf("right code after %d wrong = %d", herald.MaxCodeTries-1, r.Code)
			}
		})
	}
}

func TestSMSStopAndStart(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			texts := &textRecorder{}
			e := channelEnv(t, d, nil, texts)
			const number, pending = "+447700900125", "+447700900126"
			smsSubscribe(e, "192.0.2.10", number)
			if r := confirmCode(e, "192.0.2.10", number, texts.lastCode(t, number)); r.Code != http.StatusOK {
				t.Fatalf("confirm = %d", r.Code)
			}
			smsSubscribe(e, "192.0.2.10", pending)

			twiml := func(r response) {
				t.Helper()
				if r.Code != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/xml") ||
					!strings.HasSuffix(string(r.Body), "<Response/>") {
					t.Fatalf("answer %d %q %s; want empty TwiML", r.Code, r.Header.Get("Content-Type"), r.Body)
				}
			}
			// Forged: 401, nothing changes.
			for _, r := range []response{
				e.inbound("wrongTokenWrongTokenWrongToken00", number, "STOP"),
				e.postForm("/webhooks/twilio/inbound", "203.0.113.9", url.Values{"From": {number}, "Body": {"STOP"}}),
			} {
				if r.Code != http.StatusUnauthorized {
					t.Errorf("forged STOP = %d; want 401", r.Code)
				}
			}
			if got := e.smsState(t, number); got[herald.SubscriberConfirmed] != 1 {
				t.Fatalf("after forged STOPs: %v", got)
			}
			// Not a keyword: nothing changes.
			twiml(e.inbound(twilioToken, number, "STOP please"))
			if got := e.smsState(t, number); got[herald.SubscriberConfirmed] != 1 {
				t.Fatalf("after a text: %v", got)
			}
			twiml(e.inbound(twilioToken, number, "  stop \n"))
			if got := e.smsState(t, number); got[herald.SubscriberConfirmed] != 0 || got[herald.SubscriberUnsubscribed] != 1 {
				t.Fatalf("after STOP: %v", got)
			}
			twiml(e.inbound(twilioToken, number, "Quit")) // again: still fine
			twiml(e.inbound(twilioToken, number, "start"))
			if got := e.smsState(t, number); got[herald.SubscriberConfirmed] != 1 {
				t.Fatalf("after START: %v", got)
			}
			// A pending number: STOP voids its code; START does not
			// confirm it.
			code := texts.lastCode(t, pending)
			twiml(e.inbound(twilioToken, pending, "UNSUBSCRIBE"))
			twiml(e.inbound(twilioToken, pending, "UNSTOP"))
			if got := e.smsState(t, pending); got[herald.SubscriberConfirmed] != 1 || got[herald.SubscriberUnsubscribed] != 1 {
				t.Fatalf("START confirmed a number never confirmed: %v", got)
			}
			codeError(t, confirmCode(e, "192.0.2.10", pending, code))
			// Unknown numbers and other senders: acknowledged.
			twiml(e.inbound(twilioToken, "+15550001111", "STOP"))
			twiml(e.inbound(twilioToken, "not-a-number", "STOP"))
		})
	}
}

func TestSMSUnavailable(t *testing.T) {
	e := channelEnv(t, "", &mailRecorder{}, nil)
	doc := parseHTML(t, e.getOK("/subscribe?via=sms").Body)
	queryOne(t, doc, `[data-testid=subscribe-unavailable]`)
	if n := len(queryAll(t, doc, `form[action="/subscribe"]`)); n != 0 {
		t.Error("an SMS form is shown without Twilio")
	}
	if r := smsSubscribe(e, "192.0.2.1", "+447700900127"); r.Code != http.StatusServiceUnavailable {
		t.Errorf("POST without Twilio = %d; want 503", r.Code)
	}
	// Email still works beside it.
	queryOne(t, parseHTML(t, e.getOK("/subscribe").Body), `form[action="/subscribe"] input[name=email]`)

	// Twilio refusing: said, not hidden behind the code page.
	texts := &textRecorder{fail: errors.New("twilio error 21610")}
	e = channelEnv(t, "", nil, texts)
	r := smsSubscribe(e, "192.0.2.1", "+447700900127")
	if r.Code != http.StatusServiceUnavailable {
		t.Errorf("failing Twilio = %d; want 503", r.Code)
	}
	queryOne(t, parseHTML(t, r.Body), `[data-testid=subscribe-error]`)
}

func TestSMSLimits(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			texts := &textRecorder{}
			e := channelEnv(t, d, &mailRecorder{}, texts)
			// Per number, from different networks.
			for i := range herald.MaxSubscribesPerAddress {
				if r := smsSubscribe(e, "198.51."+strconv.Itoa(i)+".1", "+447700900200"); r.Code != http.StatusOK {
					t.Fatalf("request %d = %d", i+1, r.Code)
				}
			}
			checkLimited(t, smsSubscribe(e, "203.0.113.1", "+447700900200"))
			// Per network, across channels.
			for i := range herald.MaxSubscribesPerNetwork {
				if r := smsSubscribe(e, "192.0.2."+strconv.Itoa(i+1), "+4477009003"+strconv.Itoa(10+i)); r.Code != http.StatusOK {
					t.Fatalf("network request %d = %d", i+1, r.Code)
				}
			}
			checkLimited(t, e.postForm("/subscribe", "192.0.2.250", url.Values{"channel": {"webhook"},
				"url": {"https://93.184.215.14/hook"}, "owner_email": {"ops@example.com"}, "scope": {"all"}}))
			// Codes per network, across numbers.
			for i := range herald.MaxCodeTriesPerNetwork {
				codeError(t, confirmCode(e, "192.0.3.1", "+4477009004"+strconv.Itoa(10+i), "123456"))
			}
			r := confirmCode(e, "192.0.3.2", "+447700900200", "123456")
			if r.Code != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
				t.Fatalf("code %d = %d; want 429", herald.MaxCodeTriesPerNetwork+1, r.Code)
			}
			queryOne(t, parseHTML(t, r.Body), `[data-testid=subscribe-error]`)
		})
	}
}
