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

// TestSignedSubscriberLinks: the manage and one-click unsubscribe links of
// later mails carry a signed token; they work through the public pages
// like the confirmation mail's, and a tampered one is a 404.
func TestSignedSubscriberLinks(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			rec := &mailRecorder{}
			e := subscriptionEnv(t, d, rec)
			ctx := context.Background()
			if r := e.postForm("/subscribe", "192.0.2.20", url.Values{"email": {"later@example.com"}, "scope": {"all"}}); r.Code != http.StatusOK {
				t.Fatalf("subscribe: %d %s", r.Code, r.Body)
			}
			sub, err := e.store.ConfirmSubscriber(ctx, confirmToken(t, rec.all()[0]))
			if err != nil {
				t.Fatal(err)
			}
			tok, err := e.store.SubscriberLinkToken(ctx, sub.ID)
			if err != nil {
				t.Fatal(err)
			}
			links := herald.LinksFor(e.plan.Page.URL, tok)
			path := func(link string) string { return strings.TrimPrefix(link, e.plan.Page.URL) }
			queryOne(t, parseHTML(t, e.getOK(path(links.Manage)).Body), `[data-testid=manage-save]`)
			oneClick := url.Values{"List-Unsubscribe": {"One-Click"}}
			if r := e.postForm(path(links.Unsubscribe)+"x", "203.0.113.9", oneClick); r.Code != http.StatusNotFound {
				t.Errorf("a tampered signed link = %d; want 404", r.Code)
			}
			if r := e.postForm(path(links.Unsubscribe), "203.0.113.9", oneClick); r.Code != http.StatusOK {
				t.Fatalf("one-click with a signed link = %d: %s", r.Code, r.Body)
			}
			if got, _ := e.store.SubscriberByToken(ctx, tok); got.State != herald.SubscriberUnsubscribed {
				t.Errorf("after the signed one-click: %s", got.State)
			}
		})
	}
}
