package store_test

import (
	"errors"
	"testing"

	"github.com/kredete/herald"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// TestSubscribersSMSAndWebhooks covers the SMS code, STOP and START, and
// a webhook starting over, on both databases.
func TestSubscribersSMSAndWebhooks(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Run("Code", func(t *testing.T) { testSubscriberCode(t, d) })
			t.Run("StopStart", func(t *testing.T) { testStopStart(t, d) })
			t.Run("WebhookRestart", func(t *testing.T) { testWebhookRestart(t, d) })
		})
	}
}

func subscribeSMS(t *testing.T, s *store.Store, clk *clock, number string) herald.SubscribeResult {
	t.Helper()
	res, err := s.Subscribe(t.Context(), herald.SubscriptionRequest{Channel: herald.SubscriberSMS, Address: number,
		AllComponents: true}, clk.Now())
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", number, err)
	}
	return res
}

func testSubscriberCode(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	seed(t, s)
	const number = "+447700900123"
	res := subscribeSMS(t, s, clk, number)
	if !herald.ValidConfirmCode(res.Code) || res.Subscriber.ConfirmExpiresAt == nil ||
		res.Subscriber.ConfirmExpiresAt.Sub(res.Subscriber.CreatedAt) != herald.SMSCodeWindow {
		t.Fatalf("Subscribe = %+v", res)
	}
	wrong := "000000"
	if res.Code == wrong {
		wrong = "000001"
	}
	if _, _, err := s.ConfirmSubscriberCode(ctx, "+447700900999", res.Code); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("unknown number: %v", err)
	}
	if _, _, err := s.ConfirmSubscriberCode(ctx, number, wrong); !errors.Is(err, herald.ErrWrongCode) {
		t.Errorf("wrong code: %v", err)
	}
	sub, token, err := s.ConfirmSubscriberCode(ctx, number, res.Code)
	if err != nil || sub.State != herald.SubscriberConfirmed || sub.ConfirmedAt == nil {
		t.Fatalf("right code: %+v, %v", sub, err)
	}
	if byToken, err := s.SubscriberByToken(ctx, token); err != nil || byToken.ID != sub.ID {
		t.Errorf("the new token: %+v, %v", byToken, err)
	}
	if _, _, err := s.ConfirmSubscriberCode(ctx, number, res.Code); !errors.Is(err, herald.ErrSubscriptionExpired) {
		t.Errorf("the code twice: %v", err)
	}
	// A confirmed number subscribing again gets no code (a manage text).
	if again := subscribeSMS(t, s, clk, number); again.Code != "" || again.Mail != herald.SubscriptionMailManage {
		t.Errorf("confirmed again: %+v", again)
	}

	// Expiry.
	const late = "+447700900124"
	res = subscribeSMS(t, s, clk, late)
	clk.Advance(herald.SMSCodeWindow)
	if _, _, err := s.ConfirmSubscriberCode(ctx, late, res.Code); !errors.Is(err, herald.ErrSubscriptionExpired) {
		t.Errorf("after the window: %v", err)
	}

	// Wrong tries void the code; a new code starts from none.
	const guessed = "+447700900125"
	res = subscribeSMS(t, s, clk, guessed)
	for i := range herald.MaxCodeTries {
		if _, _, err := s.ConfirmSubscriberCode(ctx, guessed, wrong); !errors.Is(err, herald.ErrWrongCode) {
			t.Fatalf("wrong try %d: %v", i+1, err)
		}
	}
	if _, _, err := s.ConfirmSubscriberCode(ctx, guessed, res.Code); !errors.Is(err, herald.ErrSubscriptionExpired) {
		t.Errorf("right code after %d wrong: %v", herald.MaxCodeTries, err)
	}
	res = subscribeSMS(t, s, clk, guessed)
	if _, _, err := s.ConfirmSubscriberCode(ctx, guessed, wrong); !errors.Is(err, herald.ErrWrongCode) {
		t.Errorf("a new code's first wrong try: %v", err)
	}
	if _, _, err := s.ConfirmSubscriberCode(ctx, guessed, res.Code); err != nil {
		t.Errorf("a new code: %v", err)
	}
}

func testStopStart(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	seed(t, s)
	const number, pending = "+447700900130", "+447700900131"
	res := subscribeSMS(t, s, clk, number)
	if _, _, err := s.ConfirmSubscriberCode(ctx, number, res.Code); err != nil {
		t.Fatal(err)
	}
	p := subscribeSMS(t, s, clk, pending)

	if _, err := s.UnsubscribeByAddress(ctx, herald.SubscriberSMS, "+15550000000"); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("unknown number: %v", err)
	}
	for range 2 { // idempotent
		sub, err := s.UnsubscribeByAddress(ctx, herald.SubscriberSMS, number)
		if err != nil || sub.State != herald.SubscriberUnsubscribed || sub.UnsubscribedAt == nil {
			t.Fatalf("STOP: %+v, %v", sub, err)
		}
	}
	sub, err := s.ResubscribeByAddress(ctx, herald.SubscriberSMS, number)
	if err != nil || sub.State != herald.SubscriberConfirmed || sub.UnsubscribedAt != nil {
		t.Fatalf("START: %+v, %v", sub, err)
	}
	// Never confirmed: STOP voids the code, START does not confirm.
	if _, err := s.UnsubscribeByAddress(ctx, herald.SubscriberSMS, pending); err != nil {
		t.Fatal(err)
	}
	if sub, err := s.ResubscribeByAddress(ctx, herald.SubscriberSMS, pending); err != nil || sub.State != herald.SubscriberUnsubscribed {
		t.Errorf("START of a number never confirmed: %+v, %v", sub, err)
	}
	if _, _, err := s.ConfirmSubscriberCode(ctx, pending, p.Code); !errors.Is(err, herald.ErrSubscriptionExpired) {
		t.Errorf("the code after STOP: %v", err)
	}
	counts, err := s.CountSubscribers(ctx)
	if err != nil || counts.Total(herald.SubscriberSMS, herald.SubscriberConfirmed) != 1 ||
		counts.Total(herald.SubscriberSMS, herald.SubscriberUnsubscribed) != 1 {
		t.Errorf("counts %v, %v", counts, err)
	}
}

func testWebhookRestart(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	seed(t, s)
	req := herald.SubscriptionRequest{Channel: herald.SubscriberWebhook, Address: "https://hooks.example.com/x",
		OwnerEmail: "typo@example.con", AllComponents: true}
	first, err := s.Subscribe(ctx, req, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Still pending: the owner asked for now replaces the unproven one,
	// with a new secret (the first mail's is void).
	req.OwnerEmail = "ops@example.com"
	second, err := s.Subscribe(ctx, req, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if second.Subscriber.OwnerEmail != "ops@example.com" || second.Subscriber.WebhookSecret == first.Subscriber.WebhookSecret {
		t.Errorf("restart kept %+v", second.Subscriber)
	}
	stored, err := s.SubscriberByToken(ctx, second.Token)
	if err != nil || stored.OwnerEmail != "ops@example.com" || stored.WebhookSecret != second.Subscriber.WebhookSecret {
		t.Errorf("stored %+v, %v", stored, err)
	}
	confirm(t, s, second.Token)
	// Confirmed: the proven owner and secret stay.
	req.OwnerEmail = "intruder@example.net"
	third, err := s.Subscribe(ctx, req, clk.Now())
	if err != nil || third.Subscriber.OwnerEmail != "ops@example.com" || third.Subscriber.WebhookSecret != stored.WebhookSecret ||
		third.Mail != herald.SubscriptionMailManage {
		t.Errorf("confirmed again: %+v, %v", third, err)
	}
}
