package handlers_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/handlers"
	"github.com/kredete/herald/store/storetest"
)

// sentMail is one mail the recording Mailer was asked to send.
type sentMail struct {
	To, Subject, Text, HTML string
	Headers                 map[string]string
}

// mailRecorder is a handlers.Mailer that keeps what it is given (Herald's
// own seam; the SMTP adapter is tested against smtptest in comms/email).
type mailRecorder struct {
	mu   sync.Mutex
	sent []sentMail
	fail error
}

func (m *mailRecorder) SendSubscriptionMail(_ context.Context, to, subject, text, html string, headers map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.sent = append(m.sent, sentMail{To: to, Subject: subject, Text: text, HTML: html, Headers: headers})
	return nil
}

func (m *mailRecorder) all() []sentMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]sentMail(nil), m.sent...)
}

// subscriptionEnv wires the subscription pages on e: the store, the
// recorder (nil: no mail server) and the env's clock.
func subscriptionEnv(t *testing.T, dialect string, mailer handlers.Mailer) *env {
	t.Helper()
	e := newEnv(t, envOptions{dialect: dialect})
	d := e.deps
	d.Subscriptions = e.store
	d.Mailer = mailer
	d.Now = e.clock.Now
	e.deps = d
	e.h = handlers.New(d)
	return e
}

// postForm posts a form from a client address, as a browser or a mail
// client would, with extra headers in name, value pairs.
func (e *env) postForm(path, remote string, form url.Values, headers ...string) response {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	r.RemoteAddr = remote + ":40000"
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	return response{Code: res.StatusCode, Header: res.Header, Body: b}
}

var tokenRe = regexp.MustCompile(`/subscriptions/confirm\?token=([A-Za-z0-9_-]{43})`)

func confirmToken(t *testing.T, m sentMail) string {
	t.Helper()
	match := tokenRe.FindStringSubmatch(m.Text)
	if match == nil {
		t.Fatalf("no confirm link in the mail:\n%s", m.Text)
	}
	return match[1]
}

func TestSubscriptionFlow(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			rec := &mailRecorder{}
			e := subscriptionEnv(t, d, rec)
			ctx := context.Background()
			base := e.plan.Page.URL
			api, credit := e.ids["api-platform"], e.ids["credit-origination"]

			// The status page links to the form; the form has a box per component.
			home := parseHTML(t, e.getOK("/").Body)
			if a := queryOne(t, home, `a[data-testid=subscribe-link]`); a == nil {
				t.Fatal("no subscribe link on the status page")
			}
			page := parseHTML(t, e.getOK("/subscribe").Body)
			if n := len(queryAll(t, page, `input[name=component]`)); n != len(e.ids) {
				t.Errorf("%d component boxes; want %d", n, len(e.ids))
			}
			queryOne(t, page, `form[action="/subscribe"] input[name=email]`)

			r := e.postForm("/subscribe", "192.0.2.10", url.Values{"email": {" Ada@Example.com "}, "scope": {"some"}, "component": {api}})
			if r.Code != http.StatusOK {
				t.Fatalf("POST /subscribe = %d: %s", r.Code, r.Body)
			}
			queryOne(t, parseHTML(t, r.Body), `[data-testid=subscribe-sent]`)
			mails := rec.all()
			if len(mails) != 1 {
				t.Fatalf("%d mails; want 1", len(mails))
			}
			m := mails[0]
			token := confirmToken(t, m)
			links := herald.LinksFor(base, token)
			if m.To != "ada@example.com" || !strings.Contains(m.Subject, "Confirm") || !strings.Contains(m.Text, links.Confirm) ||
				!strings.Contains(m.HTML, `href="`+strings.ReplaceAll(links.Confirm, "&", "&amp;")+`"`) {
				t.Errorf("mail = %+v", m)
			}
			if !strings.HasPrefix(links.Confirm, "https://") {
				t.Errorf("confirm link %q is not absolute", links.Confirm)
			}
			if got := m.Headers["List-Unsubscribe"]; got != "<"+links.Unsubscribe+">" {
				t.Errorf("List-Unsubscribe = %q; want <%s>", got, links.Unsubscribe)
			}
			if got := m.Headers["List-Unsubscribe-Post"]; got != "List-Unsubscribe=One-Click" {
				t.Errorf("List-Unsubscribe-Post = %q", got)
			}
			if sub, err := e.store.SubscriberByToken(ctx, token); err != nil || sub.State != herald.SubscriberPending {
				t.Fatalf("before confirming: %+v, %v", sub, err)
			}

			// The link shows a Confirm button: a GET confirms nothing, since
			// mail scanners follow links.
			queryOne(t, parseHTML(t, e.getOK("/subscriptions/confirm?token="+token).Body), `[data-testid=confirm-submit]`)
			if sub, _ := e.store.SubscriberByToken(ctx, token); sub.State != herald.SubscriberPending {
				t.Fatalf("a GET of the confirmation link confirmed: %s", sub.State)
			}
			// Confirm with the button.
			r = e.postForm("/subscriptions/confirm?token="+token, "192.0.2.10", url.Values{})
			if r.Code != http.StatusOK {
				t.Fatalf("POST confirm = %d: %s", r.Code, r.Body)
			}
			doc := parseHTML(t, r.Body)
			queryOne(t, doc, `[data-testid=confirmed]`)
			queryOne(t, doc, `a[data-testid=manage-link]`)
			if sub, _ := e.store.SubscriberByToken(ctx, token); sub.State != herald.SubscriberConfirmed {
				t.Errorf("after confirming: %s", sub.State)
			}
			e.getOK("/subscriptions/confirm?token=" + token) // a second click is fine

			// Manage: the current choice, then another.
			doc = parseHTML(t, e.getOK("/subscriptions/manage?token="+token).Body)
			if _, ok := attr(queryOne(t, doc, `input[name=component][value="`+api+`"]`), "checked"); !ok {
				t.Error("the subscribed component is not ticked")
			}
			r = e.postForm("/subscriptions/manage?token="+token, "192.0.2.10", url.Values{"scope": {"some"}, "component": {credit}},
				"Origin", "http://example.com", "Sec-Fetch-Site", "same-origin")
			if r.Code != http.StatusOK {
				t.Fatalf("POST manage = %d: %s", r.Code, r.Body)
			}
			queryOne(t, parseHTML(t, r.Body), `[data-testid=manage-saved]`)
			if sub, _ := e.store.SubscriberByToken(ctx, token); sub.AllComponents || len(sub.ComponentIDs) != 1 || sub.ComponentIDs[0] != credit {
				t.Errorf("after manage: %+v", sub)
			}
			r = e.postForm("/subscriptions/manage?token="+token, "192.0.2.10", url.Values{"scope": {"some"}})
			if r.Code != http.StatusUnprocessableEntity {
				t.Errorf("manage with nothing chosen = %d; want 422", r.Code)
			}
			queryOne(t, parseHTML(t, r.Body), `[data-testid=error-components]`)

			// A GET of the unsubscribe link only shows the button.
			queryOne(t, parseHTML(t, e.getOK("/subscriptions/unsubscribe?token="+token).Body), `[data-testid=unsubscribe-submit]`)
			if sub, _ := e.store.SubscriberByToken(ctx, token); sub.State != herald.SubscriberConfirmed {
				t.Errorf("a GET unsubscribed: %s", sub.State)
			}

			// One-click: a mail client's POST, no cookie, no Origin.
			oneClick := url.Values{"List-Unsubscribe": {"One-Click"}}
			r = e.postForm(strings.TrimPrefix(links.Unsubscribe, base), "203.0.113.5", oneClick)
			if r.Code != http.StatusOK {
				t.Fatalf("one-click unsubscribe = %d: %s", r.Code, r.Body)
			}
			queryOne(t, parseHTML(t, r.Body), `[data-testid=unsubscribed]`)
			if sub, _ := e.store.SubscriberByToken(ctx, token); sub.State != herald.SubscriberUnsubscribed {
				t.Errorf("after one-click: %s", sub.State)
			}
			// Again, and from a web mail client on another site: still 200.
			r = e.postForm(strings.TrimPrefix(links.Unsubscribe, base), "203.0.113.5", oneClick,
				"Origin", "https://mail.example.net", "Sec-Fetch-Site", "cross-site")
			if r.Code != http.StatusOK {
				t.Errorf("repeated cross-site one-click = %d: %s", r.Code, r.Body)
			}
			// Other public forms still refuse cross-site posts.
			r = e.postForm("/subscribe", "192.0.2.10", url.Values{"email": {"x@example.com"}, "scope": {"all"}},
				"Origin", "https://evil.example.net", "Sec-Fetch-Site", "cross-site")
			if r.Code != http.StatusForbidden {
				t.Errorf("cross-site POST /subscribe = %d; want 403", r.Code)
			}
			if r := e.postForm("/subscriptions/unsubscribe?token=nope", "203.0.113.5", oneClick); r.Code != http.StatusNotFound {
				t.Errorf("one-click with an unknown token = %d; want 404", r.Code)
			}
		})
	}
}

func TestSubscriptionExpiredLink(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			rec := &mailRecorder{}
			e := subscriptionEnv(t, d, rec)
			r := e.postForm("/subscribe", "192.0.2.10", url.Values{"email": {"late@example.com"}, "scope": {"all"}})
			if r.Code != http.StatusOK {
				t.Fatalf("POST /subscribe = %d", r.Code)
			}
			token := confirmToken(t, rec.all()[0])
			e.clock.Set(e.clock.Now().Add(herald.ConfirmWindow + time.Minute))
			r = e.get("/subscriptions/confirm?token=" + token)
			if r.Code != http.StatusGone {
				t.Fatalf("expired confirm = %d; want 410", r.Code)
			}
			doc := parseHTML(t, r.Body)
			queryOne(t, doc, `[data-testid=link-expired]`)
			if a := queryOne(t, doc, `a[data-testid=resubscribe]`); a == nil {
				t.Error("no way to subscribe again")
			}
			if r := e.get("/subscriptions/confirm?token=garbage"); r.Code != http.StatusNotFound {
				t.Errorf("unknown token = %d; want 404", r.Code)
			}
			if r := e.get("/subscriptions/manage?token="); r.Code != http.StatusNotFound {
				t.Errorf("manage without a token = %d; want 404", r.Code)
			}
		})
	}
}

func TestSubscribeInvalid(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			rec := &mailRecorder{}
			e := subscriptionEnv(t, d, rec)
			for _, tc := range []struct {
				form  url.Values
				field string
			}{
				{url.Values{"email": {"not-an-email"}, "scope": {"all"}}, "address"},
				{url.Values{"email": {"Ada <ada@example.com>"}, "scope": {"all"}}, "address"},
				{url.Values{"email": {"ada@example.com"}, "scope": {"some"}}, "components"},
				{url.Values{"email": {"ada@example.com"}, "scope": {"some"}, "component": {"ghost"}}, "components"},
			} {
				r := e.postForm("/subscribe", "192.0.2.10", tc.form)
				if r.Code != http.StatusUnprocessableEntity {
					t.Errorf("%v = %d; want 422", tc.form, r.Code)
					continue
				}
				doc := parseHTML(t, r.Body)
				msg := queryOne(t, doc, `.field.has-error [data-testid=error-`+tc.field+`]`)
				if msg == nil || text(msg) == "" {
					t.Errorf("%v: no message next to %s", tc.form, tc.field)
				}
				if tc.field == "address" {
					in := queryOne(t, doc, `input#address[aria-invalid=true]`)
					if v, _ := attr(in, "value"); v != tc.form.Get("email") {
						t.Errorf("the address typed is not kept: %q", v)
					}
				}
			}
			if n := len(rec.all()); n != 0 {
				t.Errorf("%d mails sent for invalid requests", n)
			}
			counts, err := e.store.CountSubscribers(context.Background())
			if err != nil || len(counts) != 0 {
				t.Errorf("invalid requests stored subscribers: %v, %v", counts, err)
			}
		})
	}
}

// The answer never tells whether an address is subscribed.
func TestSubscribeNoEnumeration(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			rec := &mailRecorder{}
			e := subscriptionEnv(t, d, rec)
			known := url.Values{"email": {"known@example.com"}, "scope": {"all"}}
			e.postForm("/subscribe", "192.0.2.1", known)
			if r := e.postForm("/subscriptions/confirm?token="+confirmToken(t, rec.all()[0]), "192.0.2.10", url.Values{}); r.Code != http.StatusOK {
				t.Fatalf("confirm = %d", r.Code)
			}

			again := e.postForm("/subscribe", "192.0.2.2", known)
			fresh := e.postForm("/subscribe", "192.0.2.3", url.Values{"email": {"unknown@example.com"}, "scope": {"all"}})
			if again.Code != http.StatusOK || fresh.Code != again.Code {
				t.Fatalf("known %d, unknown %d", again.Code, fresh.Code)
			}
			norm := func(r response) string {
				return strings.NewReplacer("known@example.com", "X", "unknown@example.com", "X").Replace(string(r.Body))
			}
			if norm(again) != norm(fresh) {
				t.Errorf("the pages differ for a known and an unknown address:\n%s\n---\n%s", again.Body, fresh.Body)
			}
			for _, h := range []string{"Content-Type", "Cache-Control", "Retry-After"} {
				if again.Header.Get(h) != fresh.Header.Get(h) {
					t.Errorf("header %s differs: %q vs %q", h, again.Header.Get(h), fresh.Header.Get(h))
				}
			}
			// Only the inbox learns the difference: a manage mail for the
			// confirmed address, a confirmation for the new one.
			mails := rec.all()
			if len(mails) != 3 || strings.Contains(mails[1].Text, "/subscriptions/confirm") || !strings.Contains(mails[1].Text, "/subscriptions/manage") ||
				!strings.Contains(mails[2].Text, "/subscriptions/confirm") {
				t.Errorf("mails: %+v", mails)
			}
			if mails[1].Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
				t.Errorf("manage mail without one-click headers: %v", mails[1].Headers)
			}
		})
	}
}

func TestSubscribeRateLimits(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			rec := &mailRecorder{}
			e := subscriptionEnv(t, d, rec)
			form := url.Values{"email": {"flood@example.com"}, "scope": {"all"}}
			// Per address: from different networks, the fourth is refused.
			for i := range herald.MaxSubscribesPerAddress {
				if r := e.postForm("/subscribe", "198.51."+strconv.Itoa(i)+".1", form); r.Code != http.StatusOK {
					t.Fatalf("request %d = %d", i+1, r.Code)
				}
			}
			r := e.postForm("/subscribe", "203.0.113.1", form)
			checkLimited(t, r)
			// Per network: one /24, many addresses.
			for i := range herald.MaxSubscribesPerNetwork {
				f := url.Values{"email": {"n" + strconv.Itoa(i) + "@example.com"}, "scope": {"all"}}
				if r := e.postForm("/subscribe", "192.0.2."+strconv.Itoa(i+1), f); r.Code != http.StatusOK {
					t.Fatalf("network request %d = %d: %s", i+1, r.Code, r.Body)
				}
			}
			checkLimited(t, e.postForm("/subscribe", "192.0.2.250", url.Values{"email": {"new@example.com"}, "scope": {"all"}}))
			// IPv6: the /48 counts.
			for i := range herald.MaxSubscribesPerNetwork {
				f := url.Values{"email": {"v6-" + strconv.Itoa(i) + "@example.com"}, "scope": {"all"}}
				if r := e.postForm("/subscribe", "[2001:db8:1:"+strconv.Itoa(i)+"::1]", f); r.Code != http.StatusOK {
					t.Fatalf("IPv6 request %d = %d", i+1, r.Code)
				}
			}
			checkLimited(t, e.postForm("/subscribe", "[2001:db8:1:ffff::9]", url.Values{"email": {"v6@example.com"}, "scope": {"all"}}))
			// Another network is unaffected; the limit lifts after the window.
			if r := e.postForm("/subscribe", "192.0.3.1", url.Values{"email": {"other@example.com"}, "scope": {"all"}}); r.Code != http.StatusOK {
				t.Errorf("another network = %d", r.Code)
			}
			e.clock.Set(e.clock.Now().Add(herald.SubscribeLimitWindow + time.Minute))
			if r := e.postForm("/subscribe", "192.0.2.250", form); r.Code != http.StatusOK {
				t.Errorf("after the window = %d", r.Code)
			}
		})
	}
}

func checkLimited(t *testing.T, r response) {
	t.Helper()
	if r.Code != http.StatusTooManyRequests {
		t.Fatalf("over the limit = %d; want 429", r.Code)
	}
	if r.Header.Get("Retry-After") != "3600" {
		t.Errorf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	msg := text(queryOne(t, parseHTML(t, r.Body), `[data-testid=subscribe-error]`))
	if !strings.Contains(msg, "Too many") || strings.Contains(msg, "@") {
		t.Errorf("limit message %q", msg)
	}
}

func TestSubscribeWithoutMail(t *testing.T) {
	e := subscriptionEnv(t, "", nil)
	doc := parseHTML(t, e.getOK("/subscribe").Body)
	queryOne(t, doc, `[data-testid=subscribe-unavailable]`)
	if n := len(queryAll(t, doc, `form[action="/subscribe"]`)); n != 0 {
		t.Error("a form is shown with no mail server")
	}
	r := e.postForm("/subscribe", "192.0.2.1", url.Values{"email": {"a@example.com"}, "scope": {"all"}})
	if r.Code != http.StatusServiceUnavailable {
		t.Errorf("POST without a mail server = %d; want 503", r.Code)
	}
	if counts, _ := e.store.CountSubscribers(context.Background()); len(counts) != 0 {
		t.Errorf("stored without a mail server: %v", counts)
	}

	// A mail server that fails: said, not hidden behind "check your inbox".
	rec := &mailRecorder{fail: errors.New("451 try later")}
	e = subscriptionEnv(t, "", rec)
	r = e.postForm("/subscribe", "192.0.2.1", url.Values{"email": {"a@example.com"}, "scope": {"all"}})
	if r.Code != http.StatusServiceUnavailable {
		t.Errorf("POST with a failing mail server = %d; want 503", r.Code)
	}
	queryOne(t, parseHTML(t, r.Body), `[data-testid=subscribe-error]`)
	if !strings.Contains(e.logs.String(), "subscription mail failed") {
		t.Error("the failure was not logged")
	}
	e.logs.b.Reset() // the logged error is expected here
}
