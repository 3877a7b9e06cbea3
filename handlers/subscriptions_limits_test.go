package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/handlers"
	"github.com/kredete/herald/store/storetest"
)

// The per-address limit counts the aliases of one mailbox together
// (herald.SubscriberLimitKey), while each is stored as typed.
func TestSubscribeLimitAliases(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			rec := &mailRecorder{}
			e := subscriptionEnv(t, d, rec)
			net := 0
			post := func(email string) response {
				net++ // a network each, so only the address limit applies
				return e.postForm("/subscribe", "198.51."+strconv.Itoa(net)+".1", url.Values{"email": {email}, "scope": {"all"}})
			}
			ok := func(email string) {
				t.Helper()
				if r := post(email); r.Code != http.StatusOK {
					t.Fatalf("%s = %d; want 200: %s", email, r.Code, r.Body)
				}
			}

			// +tags, whatever the domain.
			ok("alice+1@example.com")
			ok("alice+2@example.com")
			ok("Alice+3@Example.com")
			checkLimited(t, post("alice+4@example.com"))
			checkLimited(t, post("alice@example.com"))
			// Dots are another mailbox outside Gmail.
			ok("a.lice@example.com")

			// Gmail: dots and googlemail.com too.
			ok("bob.smith@gmail.com")
			ok("b.o.b.s.m.i.t.h+status@googlemail.com")
			ok("bobsmith@gmail.com")
			checkLimited(t, post("Bob.Smith+x@gmail.com"))
			checkLimited(t, post("bobsmith@googlemail.com"))

			// Stored and mailed as typed (normalised: lower case), tags,
			// dots and domain kept.
			want := []string{"a.lice@example.com", "alice+1@example.com", "alice+2@example.com", "alice+3@example.com",
				"b.o.b.s.m.i.t.h+status@googlemail.com", "bob.smith@gmail.com", "bobsmith@gmail.com"}
			subs, err := e.store.ListSubscribers(context.Background(), herald.SubscriberFilter{}, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			var stored, mailed []string
			for _, s := range subs {
				stored = append(stored, s.Address)
			}
			for _, m := range rec.all() {
				mailed = append(mailed, m.To)
			}
			slices.Sort(stored)
			slices.Sort(mailed)
			if !slices.Equal(stored, want) || !slices.Equal(mailed, want) {
				t.Errorf("stored %q, mailed %q; want %q", stored, mailed, want)
			}
		})
	}
}

// smsCapEnv is channelEnv with a cap on sign-ups by text message.
func smsCapEnv(t *testing.T, dialect string, texts *textRecorder, perHour int) *env {
	t.Helper()
	e := channelEnv(t, dialect, &mailRecorder{}, texts)
	d := e.deps
	d.SMSSignupsPerHour = perHour
	e.deps = d
	e.h = handlers.New(d)
	return e
}

// All sign-ups by text message together are capped (SMS pumping): over
// the cap nothing is stored or texted, for a known number as for a new one.
func TestSMSSignupCap(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			const perHour = 3
			texts := &textRecorder{}
			e := smsCapEnv(t, d, texts, perHour)
			// A second replica: its own server, the same database.
			other := handlers.New(e.deps)
			replicas := []http.Handler{e.h, other}

			// Up to the cap, from different networks and numbers, across
			// both replicas.
			const known = "+447700900500"
			for i := range perHour {
				e.h = replicas[i%2]
				number := known
				if i > 0 {
					number = "+44770090050" + strconv.Itoa(i)
				}
				if r := smsSubscribe(e, "198.51."+strconv.Itoa(i)+".1", number); r.Code != http.StatusOK {
					t.Fatalf("sign-up %d = %d: %s", i+1, r.Code, r.Body)
				}
			}
			if r := confirmCode(e, "198.51.0.1", known, texts.lastCode(t, known)); r.Code != http.StatusOK {
				t.Fatalf("confirm = %d", r.Code)
			}
			before := e.smsState(t, known)

			// Over it: a new number and a confirmed one, on either replica.
			const fresh = "+447700900599"
			e.h = replicas[1]
			over := smsSubscribe(e, "203.0.113.1", fresh)
			e.h = replicas[0]
			again := smsSubscribe(e, "203.0.113.2", known)
			for _, r := range []response{over, again} {
				if r.Code != http.StatusTooManyRequests {
					t.Fatalf("over the cap = %d; want 429: %s", r.Code, r.Body)
				}
				if r.Header.Get("Retry-After") != "3600" {
					t.Errorf("Retry-After = %q", r.Header.Get("Retry-After"))
				}
				doc := parseHTML(t, r.Body)
				msg := text(queryOne(t, doc, `[data-testid=subscribe-error]`))
				if !strings.Contains(msg, "text message") || !strings.Contains(msg, "try again later") || strings.Contains(msg, "+44") {
					t.Errorf("cap message %q", msg)
				}
				// Still the SMS form, to try again later.
				queryOne(t, doc, `form[action="/subscribe"] input[name=phone]`)
			}
			norm := func(r response) string { return strings.NewReplacer(known, "X", fresh, "X").Replace(string(r.Body)) }
			if norm(over) != norm(again) {
				t.Errorf("the pages differ for a known and a new number:\n%s\n---\n%s", over.Body, again.Body)
			}
			if n := len(texts.all()); n != perHour {
				t.Errorf("%d texts; want %d", n, perHour)
			}
			if got := e.smsState(t, known); got[herald.SubscriberPending] != before[herald.SubscriberPending] ||
				got[herald.SubscriberConfirmed] != before[herald.SubscriberConfirmed] {
				t.Errorf("over the cap, subscribers changed: %v, was %v", got, before)
			}
			if got := e.smsState(t, fresh); got[herald.SubscriberPending]+got[herald.SubscriberConfirmed] != perHour {
				t.Errorf("over the cap, stored: %v", got)
			}

			// Email is not capped with it.
			if r := e.postForm("/subscribe", "203.0.113.3", url.Values{"email": {"ada@example.com"}, "scope": {"all"}}); r.Code != http.StatusOK {
				t.Errorf("email over the SMS cap = %d", r.Code)
			}
			// The cap lifts after the window.
			e.clock.Set(e.clock.Now().Add(herald.SubscribeLimitWindow + time.Minute))
			if r := smsSubscribe(e, "203.0.113.4", fresh); r.Code != http.StatusOK {
				t.Errorf("after the window = %d: %s", r.Code, r.Body)
			}
		})
	}
}

// 0 is no cap, and nothing is counted.
func TestSMSSignupNoCap(t *testing.T) {
	texts := &textRecorder{}
	e := smsCapEnv(t, "", texts, 0)
	for i := range 5 {
		if r := smsSubscribe(e, "198.51."+strconv.Itoa(i)+".1", "+44770090060"+strconv.Itoa(i)); r.Code != http.StatusOK {
			t.Fatalf("sign-up %d = %d", i+1, r.Code)
		}
	}
	if n, err := e.store.SubscribeAttempts(context.Background(), herald.SubscribeSMSGlobalKey, time.Time{}); err != nil || n != 0 {
		t.Errorf("counted %d, %v without a cap", n, err)
	}
}
