package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kredete/herald"
	"github.com/kredete/herald/store/storetest"
)

// publicHook is a public address given as an IP literal, so the real
// SSRF check needs no DNS.
const publicHook = "https://93.184.215.14/hooks/herald?key=abc"

func webhookForm(u, owner string) url.Values {
	return url.Values{"channel": {"webhook"}, "url": {u}, "owner_email": {owner}, "scope": {"all"}}
}

func TestWebhookSubscriptionFlow(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			rec := &mailRecorder{}
			e := channelEnv(t, d, rec, nil)
			ctx := context.Background()

			page := parseHTML(t, e.getOK("/subscribe?via=webhook").Body)
			queryOne(t, page, `form[action="/subscribe"] input[name=url]`)
			queryOne(t, page, `form[action="/subscribe"] input[name=owner_email]`)

			r := e.postForm("/subscribe", "192.0.2.10", webhookForm(publicHook, "Ops@Example.com"))
			if r.Code != http.StatusOK {
				t.Fatalf("POST /subscribe = %d: %s", r.Code, r.Body)
			}
			queryOne(t, parseHTML(t, r.Body), `[data-testid=subscribe-sent]`)
			mails := rec.all()
			if len(mails) != 1 || mails[0].To != "ops@example.com" || !strings.Contains(mails[0].Text, publicHook) {
				t.Fatalf("mails: %+v", mails)
			}
			token := confirmToken(t, mails[0])
			sub, err := e.store.SubscriberByToken(ctx, token)
			if err != nil || sub.State != herald.SubscriberPending || sub.Channel != herald.SubscriberWebhook || sub.OwnerEmail != "ops@example.com" {
				t.Fatalf("stored %+v, %v", sub, err)
			}
			if !strings.HasPrefix(sub.WebhookSecret, "whsec_") || !strings.Contains(mails[0].Text, sub.WebhookSecret) ||
				!strings.Contains(mails[0].HTML, sub.WebhookSecret) || !strings.Contains(mails[0].Text, "X-Herald-Signature") {
				t.Errorf("the mail does not carry the secret and how to check it:\n%s", mails[0].Text)
			}
			if mails[0].Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
				t.Errorf("headers: %v", mails[0].Headers)
			}

			queryOne(t, parseHTML(t, e.getOK("/subscriptions/confirm?token="+token).Body), `[data-testid=confirm-submit]`)
			cr := e.postForm("/subscriptions/confirm?token="+token, "192.0.2.30", url.Values{})
			if cr.Code != http.StatusOK {
				t.Fatalf("POST confirm = %d: %s", cr.Code, cr.Body)
			}
			doc := parseHTML(t, cr.Body)
			if msg := text(queryOne(t, doc, `[data-testid=confirmed]`)); !strings.Contains(msg, "X-Herald-Signature") || strings.Contains(msg, sub.WebhookSecret) {
				t.Errorf("confirmation page: %q", msg)
			}
			if sub, _ := e.store.SubscriberByToken(ctx, token); sub.State != herald.SubscriberConfirmed {
				t.Errorf("after confirming: %s", sub.State)
			}

			// The same URL again, by someone else: the same page; the
			// stored owner gets a manage mail without the secret.
			again := e.postForm("/subscribe", "192.0.2.11", webhookForm(publicHook, "intruder@example.net"))
			fresh := e.postForm("/subscribe", "192.0.2.12", webhookForm("https://93.184.215.15/other", "intruder@example.net"))
			if again.Code != http.StatusOK || fresh.Code != again.Code || string(again.Body) != string(fresh.Body) {
				t.Errorf("a known and an unknown URL answered differently: %d vs %d", again.Code, fresh.Code)
			}
			mails = rec.all()
			if m := mails[1]; m.To != "ops@example.com" || strings.Contains(m.Text, sub.WebhookSecret) || strings.Contains(m.Text, "/subscriptions/confirm") {
				t.Errorf("re-subscribe mail: %+v", m)
			}
		})
	}
}

func TestWebhookURLRefused(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			rec := &mailRecorder{}
			e := channelEnv(t, d, rec, nil)
			for _, tc := range []struct{ url, want string }{
				{"https://10.0.0.5/hook", "private"},
				{"https://127.0.0.1/hook", "loopback"},
				{"https://[::1]:8443/hook", "loopback"},
				{"https://169.254.169.254/latest/meta-data", "link-local"},
				{"http://93.184.215.14/hook", "https"},
			} {
				r := e.postForm("/subscribe", "192.0.2.10", webhookForm(tc.url, "ops@example.com"))
				if r.Code != http.StatusUnprocessableEntity {
					t.Errorf("%s = %d; want 422", tc.url, r.Code)
					continue
				}
				doc := parseHTML(t, r.Body)
				msg := text(queryOne(t, doc, `.field.has-error [data-testid=error-address]`))
				if !strings.Contains(msg, tc.want) || strings.Contains(msg, "/hook") {
					t.Errorf("%s: message %q; want the reason (%s) and not the path", tc.url, msg, tc.want)
				}
				if v, _ := attr(queryOne(t, doc, `input#address[aria-invalid=true]`), "value"); v != tc.url {
					t.Errorf("the URL typed is not kept: %q", v)
				}
			}
			r := e.postForm("/subscribe", "192.0.2.10", webhookForm(publicHook, "not-an-email"))
			queryOne(t, parseHTML(t, r.Body), `.field.has-error [data-testid=error-owner_email]`)
			if n := len(rec.all()); n != 0 {
				t.Errorf("%d mails for refused URLs", n)
			}
			if counts, _ := e.store.CountSubscribers(context.Background()); len(counts) != 0 {
				t.Errorf("refused URLs stored: %v", counts)
			}
		})
	}
}

func TestWebhookLimits(t *testing.T) {
	e := channelEnv(t, "", &mailRecorder{}, nil)
	for i := range herald.MaxSubscribesPerAddress {
		if r := e.postForm("/subscribe", "198.51."+string(rune('1'+i))+".1", webhookForm(publicHook, "ops@example.com")); r.Code != http.StatusOK {
			t.Fatalf("request %d = %d", i+1, r.Code)
		}
	}
	checkLimited(t, e.postForm("/subscribe", "203.0.113.1", webhookForm(publicHook, "ops@example.com")))
}
