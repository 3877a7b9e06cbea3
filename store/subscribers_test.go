package store_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// TestSubscribers is the subscribers' conformance suite, on both databases.
func TestSubscribers(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, dialect string)
	}{
		{"OptIn", testSubscriberOptIn},
		{"ConfirmExpires", testSubscriberExpiry},
		{"ResubscribeLooksTheSame", testResubscribe},
		{"RefusedSubscribeStoresNothing", testRefusedSubscribe},
		{"UpdateComponents", testUpdateSubscriberComponents},
		{"UnsubscribeIsIdempotent", testUnsubscribeIdempotent},
		{"SignedLinks", testSignedLinks},
		{"ConfirmedSubscribersFor", testConfirmedSubscribersFor},
		{"Paging", testSubscriberPaging},
		{"RateLimitCounts", testSubscribeAttempts},
	}
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, d) })
			}
		})
	}
}

func subscribe(t *testing.T, s *store.Store, clk *clock, addr string, all bool, ids ...string) herald.SubscribeResult {
	t.Helper()
	res, err := s.Subscribe(t.Context(), herald.SubscriptionRequest{Channel: herald.SubscriberEmail, Address: addr,
		AllComponents: all, ComponentIDs: ids}, clk.Now())
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", addr, err)
	}
	return res
}

func confirm(t *testing.T, s *store.Store, token string) herald.Subscriber {
	t.Helper()
	sub, err := s.ConfirmSubscriber(t.Context(), token)
	if err != nil {
		t.Fatalf("ConfirmSubscriber: %v", err)
	}
	return sub
}

func testSubscriberOptIn(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	comps := seed(t, s)
	api := comps["api-platform"].ID

	res := subscribe(t, s, clk, "  Ada@Example.COM ", false, api, api)
	if res.Mail != herald.SubscriptionMailConfirm || res.Token == "" || len(res.Token) < 40 {
		t.Fatalf("Subscribe = %+v; want a confirmation mail with a token", res)
	}
	sub := res.Subscriber
	if sub.Address != "ada@example.com" || sub.State != herald.SubscriberPending || sub.AllComponents ||
		!slices.Equal(sub.ComponentIDs, []string{api}) || sub.Source != herald.SourceWeb {
		t.Errorf("new subscriber = %+v", sub)
	}
	if want := us(base).Add(herald.ConfirmWindow); sub.ConfirmExpiresAt == nil || !sub.ConfirmExpiresAt.Equal(want) {
		t.Errorf("ConfirmExpiresAt = %v; want %v", sub.ConfirmExpiresAt, want)
	}
	// The token is never stored: the row holds its hash only.
	got, err := s.SubscriberByToken(ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(sub, got); diff != "" {
		t.Errorf("stored subscriber differs (-returned +stored):\n%s", diff)
	}
	if _, err := s.SubscriberByToken(ctx, herald.HashSubscriberToken(res.Token)); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("the hash works as a token: %v", err)
	}
	// Nobody is sent anything before confirmation.
	if list, _ := s.ConfirmedSubscribersFor(ctx, herald.Incident{ComponentIDs: []string{api}}, herald.SubscriberEmail, "", 10); len(list) != 0 {
		t.Errorf("pending subscriber listed for the fan-out: %+v", list)
	}

	at := clk.Advance(time.Hour)
	c := confirm(t, s, res.Token)
	if c.State != herald.SubscriberConfirmed || c.ConfirmedAt == nil || !c.ConfirmedAt.Equal(at) || c.ConfirmExpiresAt != nil {
		t.Errorf("confirmed = %+v", c)
	}
	// A second click is fine.
	if again := confirm(t, s, res.Token); again.State != herald.SubscriberConfirmed {
		t.Errorf("second confirm = %+v", again)
	}
	if _, err := s.ConfirmSubscriber(ctx, "not-a-token"); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("unknown token = %v; want ErrNotFound", err)
	}
	list, err := s.ConfirmedSubscribersFor(ctx, herald.Incident{ComponentIDs: []string{api}}, herald.SubscriberEmail, "", 10)
	if err != nil || len(list) != 1 || list[0].ID != sub.ID {
		t.Errorf("ConfirmedSubscribersFor = %+v, %v", list, err)
	}
	counts, err := s.CountSubscribers(ctx)
	if err != nil || counts.Total(herald.SubscriberEmail, herald.SubscriberConfirmed) != 1 ||
		counts.Total(herald.SubscriberEmail, herald.SubscriberPending) != 0 {
		t.Errorf("CountSubscribers = %v, %v", counts, err)
	}
	// The audit log has the changes, never the address or the token.
	entries, err := s.Audit(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		if e.Entity == "subscriber" {
			actions = append(actions, e.Action)
			for _, secret := range []string{"ada@example.com", res.Token} {
				if strings.Contains(e.Before+e.After, secret) {
					t.Errorf("audit entry %s holds %q", e.Action, secret)
				}
			}
		}
	}
	if !slices.Equal(actions, []string{"subscriber.confirm", "subscriber.subscribe"}) {
		t.Errorf("audit actions = %v", actions)
	}
}

func testSubscriberExpiry(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	seed(t, s)
	res := subscribe(t, s, clk, "late@example.com", true)
	clk.Advance(herald.ConfirmWindow)
	if _, err := s.ConfirmSubscriber(ctx, res.Token); !errors.Is(err, herald.ErrSubscriptionExpired) {
		t.Fatalf("confirm after the window = %v; want ErrSubscriptionExpired", err)
	}
	if sub, _ := s.SubscriberByToken(ctx, res.Token); sub.State != herald.SubscriberPending {
		t.Errorf("expired confirmation changed the state to %s", sub.State)
	}
	// Subscribing again starts a new window with a new token; the old
	// link stays dead.
	again := subscribe(t, s, clk, "late@example.com", true)
	if again.Token == res.Token || again.Subscriber.ID != res.Subscriber.ID {
		t.Errorf("resubscribe = %+v", again)
	}
	if _, err := s.ConfirmSubscriber(ctx, res.Token); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("old token after resubscribe = %v; want ErrNotFound", err)
	}
	confirm(t, s, again.Token)
}

func testResubscribe(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	comps := seed(t, s)
	api, portal := comps["api-platform"].ID, comps["customer-portal"].ID

	first := subscribe(t, s, clk, "bob@example.com", false, api)
	// Pending again: same subscriber, the new components, a fresh window.
	second := subscribe(t, s, clk, "BOB@example.com", false, portal)
	if second.Mail != herald.SubscriptionMailConfirm || second.Subscriber.ID != first.Subscriber.ID ||
		!slices.Equal(second.Subscriber.ComponentIDs, []string{portal}) {
		t.Errorf("second pending subscribe = %+v", second)
	}
	confirm(t, s, second.Token)
	// Confirmed: a manage mail, the components unchanged (changing them
	// takes the link), the same subscriber.
	third := subscribe(t, s, clk, "bob@example.com", true)
	if third.Mail != herald.SubscriptionMailManage || third.Subscriber.ID != first.Subscriber.ID ||
		third.Subscriber.State != herald.SubscriberConfirmed || third.Subscriber.AllComponents {
		t.Errorf("confirmed resubscribe = %+v", third)
	}
	if sub, err := s.SubscriberByToken(ctx, third.Token); err != nil || !slices.Equal(sub.ComponentIDs, []string{portal}) {
		t.Errorf("after confirmed resubscribe: %+v, %v", sub, err)
	}
	// Unsubscribed: starts over as pending.
	if _, err := s.Unsubscribe(ctx, third.Token); err != nil {
		t.Fatal(err)
	}
	fourth := subscribe(t, s, clk, "bob@example.com", true)
	if fourth.Mail != herald.SubscriptionMailConfirm || fourth.Subscriber.State != herald.SubscriberPending || fourth.Subscriber.UnsubscribedAt != nil {
		t.Errorf("subscribe after unsubscribe = %+v", fourth)
	}
	counts, _ := s.CountSubscribers(ctx)
	if n := counts.Total(herald.SubscriberEmail, herald.SubscriberPending); n != 1 {
		t.Errorf("pending subscribers = %d; want 1 (one row per address)", n)
	}
}

func testRefusedSubscribe(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	seed(t, s)
	for _, req := range []herald.SubscriptionRequest{
		{Channel: herald.SubscriberEmail, Address: "not an address", AllComponents: true},
		{Channel: herald.SubscriberEmail, Address: "ok@example.com", ComponentIDs: []string{"nope"}},
		{Channel: herald.SubscriberEmail, Address: "ok@example.com"},
	} {
		_, err := s.Subscribe(ctx, req, clk.Now())
		var ves herald.ValidationErrors
		if !errors.As(err, &ves) {
			t.Errorf("Subscribe(%+v) = %v; want ValidationErrors", req, err)
		}
	}
	counts, err := s.CountSubscribers(ctx)
	if err != nil || len(counts) != 0 {
		t.Errorf("refused requests stored subscribers: %v, %v", counts, err)
	}
}

func testUpdateSubscriberComponents(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	comps := seed(t, s)
	api, credit := comps["api-platform"].ID, comps["credit-origination"].ID
	res := subscribe(t, s, clk, "carol@example.com", true)
	confirm(t, s, res.Token)

	sub, err := s.UpdateSubscriberComponents(ctx, res.Token, false, []string{credit, api})
	if err != nil || sub.AllComponents || !slices.Equal(sub.ComponentIDs, []string{credit, api}) {
		t.Fatalf("UpdateSubscriberComponents = %+v, %v", sub, err)
	}
	stored, _ := s.SubscriberByToken(ctx, res.Token)
	want := []string{api, credit}
	slices.Sort(want)
	if !slices.Equal(stored.ComponentIDs, want) || stored.State != herald.SubscriberConfirmed {
		t.Errorf("stored = %+v", stored)
	}
	if _, err := s.UpdateSubscriberComponents(ctx, res.Token, false, nil); !errors.Is(err, herald.ErrInvalid) {
		t.Errorf("no components = %v; want ErrInvalid", err)
	}
	if _, err := s.UpdateSubscriberComponents(ctx, res.Token, false, []string{"ghost"}); !errors.Is(err, herald.ErrInvalid) {
		t.Errorf("unknown component = %v; want ErrInvalid", err)
	}
	if _, err := s.UpdateSubscriberComponents(ctx, "wrong", true, nil); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("unknown token = %v; want ErrNotFound", err)
	}
	sub, err = s.UpdateSubscriberComponents(ctx, res.Token, true, []string{api})
	if err != nil || !sub.AllComponents || len(sub.ComponentIDs) != 0 {
		t.Errorf("back to all = %+v, %v", sub, err)
	}
}

func testUnsubscribeIdempotent(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	seed(t, s)
	res := subscribe(t, s, clk, "dan@example.com", true)
	confirm(t, s, res.Token)
	at := clk.Advance(time.Minute)
	first, err := s.Unsubscribe(ctx, res.Token)
	if err != nil || first.State != herald.SubscriberUnsubscribed || first.UnsubscribedAt == nil || !first.UnsubscribedAt.Equal(at) {
		t.Fatalf("Unsubscribe = %+v, %v", first, err)
	}
	clk.Advance(time.Minute)
	second, err := s.Unsubscribe(ctx, res.Token)
	if err != nil || !second.UnsubscribedAt.Equal(at) {
		t.Errorf("second Unsubscribe = %+v, %v; want the first time kept", second, err)
	}
	if _, err := s.Unsubscribe(ctx, "nope"); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("unknown token = %v; want ErrNotFound", err)
	}
	// An ended subscription cannot be confirmed back by an old link.
	if _, err := s.ConfirmSubscriber(ctx, res.Token); !errors.Is(err, herald.ErrSubscriptionExpired) {
		t.Errorf("confirm after unsubscribe = %v; want ErrSubscriptionExpired", err)
	}
	if list, _ := s.ConfirmedSubscribersFor(ctx, herald.Incident{}, herald.SubscriberEmail, "", 10); len(list) != 0 {
		t.Errorf("unsubscribed still listed: %+v", list)
	}
}

func testConfirmedSubscribersFor(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	comps := seed(t, s)
	api, credit, portal := comps["api-platform"].ID, comps["credit-origination"].ID, comps["customer-portal"].ID
	ids := map[string]string{}
	for _, c := range []struct {
		addr string
		all  bool
		ids  []string
	}{
		{"all@example.com", true, nil},
		{"api@example.com", false, []string{api}},
		{"credit-portal@example.com", false, []string{credit, portal}},
	} {
		res := subscribe(t, s, clk, c.addr, c.all, c.ids...)
		confirm(t, s, res.Token)
		ids[res.Subscriber.ID] = c.addr
	}
	subscribe(t, s, clk, "pending@example.com", true)

	for _, tc := range []struct {
		name string
		in   herald.Incident
		want []string
	}{
		{"api incident", herald.Incident{ComponentIDs: []string{api}}, []string{"all@example.com", "api@example.com"}},
		{"portal incident", herald.Incident{ComponentIDs: []string{portal}}, []string{"all@example.com", "credit-portal@example.com"}},
		{"api and credit", herald.Incident{ComponentIDs: []string{api, credit}},
			[]string{"all@example.com", "api@example.com", "credit-portal@example.com"}},
		{"no components: everyone", herald.Incident{}, []string{"all@example.com", "api@example.com", "credit-portal@example.com"}},
		{"a drill: nobody", herald.Incident{Drill: true, ComponentIDs: []string{api}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, err := s.ConfirmedSubscribersFor(ctx, tc.in, herald.SubscriberEmail, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, sub := range list {
				got = append(got, sub.Address)
				if !sub.Wants(tc.in) {
					t.Errorf("%s listed but does not want the incident (domain and SQL disagree)", sub.Address)
				}
				if i > 0 && list[i-1].ID >= sub.ID {
					t.Errorf("not in id order: %s then %s", list[i-1].ID, sub.ID)
				}
				if sub.Address == "credit-portal@example.com" && len(sub.ComponentIDs) != 2 {
					t.Errorf("components not filled in: %+v", sub)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v; want %v", got, tc.want)
			}
		})
	}
	if list, _ := s.ConfirmedSubscribersFor(ctx, herald.Incident{}, herald.SubscriberSMS, "", 100); len(list) != 0 {
		t.Errorf("email subscribers listed for SMS: %+v", list)
	}
}

func testSubscriberPaging(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	seed(t, s)
	want := map[string]bool{}
	for i := range 7 {
		res := subscribe(t, s, clk, "p"+string(rune('a'+i))+"@example.com", true)
		confirm(t, s, res.Token)
		want[res.Subscriber.ID] = true
	}
	seen := map[string]bool{}
	after, pages := "", 0
	for {
		list, err := s.ConfirmedSubscribersFor(ctx, herald.Incident{}, herald.SubscriberEmail, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 0 {
			break
		}
		pages++
		if len(list) > 3 {
			t.Fatalf("page of %d; limit 3", len(list))
		}
		for _, sub := range list {
			if seen[sub.ID] {
				t.Errorf("%s on two pages", sub.ID)
			}
			seen[sub.ID] = true
		}
		after = list[len(list)-1].ID
	}
	if pages != 3 || len(seen) != len(want) {
		t.Errorf("%d pages, %d subscribers; want 3 pages, %d", pages, len(seen), len(want))
	}
}

func testSubscribeAttempts(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	key := herald.SubscribeNetworkKey("192.0.2.10")
	other := herald.SubscribeNetworkKey("198.51.100.1")
	start := clk.Set(base)
	for range 3 {
		if err := s.RecordSubscribeAttempt(ctx, key); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Minute)
	}
	if n, err := s.SubscribeAttempts(ctx, key, start); err != nil || n != 3 {
		t.Errorf("attempts = %d, %v; want 3", n, err)
	}
	if n, _ := s.SubscribeAttempts(ctx, key, start.Add(15*time.Minute)); n != 1 {
		t.Errorf("attempts in the last window = %d; want 1", n)
	}
	if n, _ := s.SubscribeAttempts(ctx, other, start); n != 0 {
		t.Errorf("another network = %d; want 0", n)
	}
	// A day later the old attempts are pruned by the next record.
	clk.Advance(25 * time.Hour)
	if err := s.RecordSubscribeAttempt(ctx, other); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.SubscribeAttempts(ctx, key, start.Add(-time.Hour)); n != 0 {
		t.Errorf("attempts after a day = %d; want 0 (pruned)", n)
	}
}

// testSignedLinks: the links in later mails carry a signed token, which
// keeps working after the subscriber's random token changed, manages and
// unsubscribes, and never confirms; a tampered one finds nobody.
func testSignedLinks(t *testing.T, dialect string) {
	ctx := t.Context()
	url := storetest.URL(t, dialect)
	clk := &clock{now: base}
	s := openURL(t, dialect, url, store.Options{Now: clk.Now})
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	comps := seed(t, s)
	res := subscribe(t, s, clk, "signed@example.com", true)
	sub := confirm(t, s, res.Token)
	tok, err := s.SubscriberLinkToken(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.SubscriberLinkToken(ctx, sub.ID)
	if err != nil || again != tok {
		t.Fatalf("the signed token changed between calls: %q %q %v", tok, again, err)
	}
	// A re-subscribe mints a new random token: the signed one still works.
	subscribe(t, s, clk, "signed@example.com", true)
	got, err := s.SubscriberByToken(ctx, tok)
	if err != nil || got.ID != sub.ID {
		t.Fatalf("SubscriberByToken(signed) = %+v, %v", got, err)
	}
	if _, err := s.ConfirmSubscriber(ctx, tok); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("confirm with a signed token = %v; want ErrNotFound", err)
	}
	if got, err := s.UpdateSubscriberComponents(ctx, tok, false, []string{comps["api-platform"].ID}); err != nil ||
		got.AllComponents || len(got.ComponentIDs) != 1 {
		t.Errorf("manage with a signed token = %+v, %v", got, err)
	}
	// Change the MAC's first character (a full 6 bits of the MAC) to another.
	i := strings.LastIndex(tok, ".") + 1
	swap := byte('A')
	if tok[i] == 'A' {
		swap = 'B'
	}
	bad := tok[:i] + string(swap) + tok[i+1:]
	if _, err := s.Unsubscribe(ctx, bad); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("unsubscribe with a tampered token = %v; want ErrNotFound", err)
	}
	if got, err := s.Unsubscribe(ctx, tok); err != nil || got.State != herald.SubscriberUnsubscribed {
		t.Errorf("unsubscribe with a signed token = %+v, %v", got, err)
	}
	// Another store on the same database (another replica) checks it too.
	other := openURL(t, dialect, url, store.Options{Now: clk.Now})
	if got, err := other.SubscriberByToken(ctx, tok); err != nil || got.ID != sub.ID {
		t.Errorf("another replica reads the signed token: %+v, %v", got, err)
	}
}
