package engine_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/kredete/herald"
)

// TestSubscriberFanout: a public update reaches every confirmed email
// subscriber it concerns, once, at the mail server, with a signed one-click
// unsubscribe link that works; subscribers of other components, pending
// ones and those who left hear nothing; a drill reaches nobody.
func TestSubscriberFanout(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, envOptions{})
		e.st.EnableFanout(true)
		api, portal := e.component("api-platform"), e.component("customer-portal")
		subscribe := func(addr string, all bool, comps ...string) herald.Subscriber {
			t.Helper()
			res, err := e.st.Subscribe(e.ctx, herald.SubscriptionRequest{Channel: herald.SubscriberEmail, Address: addr,
				AllComponents: all, ComponentIDs: comps}, e.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			sub, err := e.st.ConfirmSubscriber(e.ctx, res.Token)
			if err != nil {
				t.Fatal(err)
			}
			return sub
		}
		want := map[string]bool{}
		for i := range 23 {
			addr := fmt.Sprintf("partner%02d@clients.example", i)
			subscribe(addr, i%2 == 0, api.ID)
			want[addr] = true
		}
		subscribe("portal-only@clients.example", false, portal.ID)
		if _, err := e.st.Subscribe(e.ctx, herald.SubscriptionRequest{Channel: herald.SubscriberEmail,
			Address: "pending@clients.example", AllComponents: true}, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		left := subscribe("left@clients.example", true)
		tok, err := e.st.SubscriberLinkToken(e.ctx, left.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.Unsubscribe(e.ctx, tok); err != nil {
			t.Fatal(err)
		}

		e.start(e.st, e.engine(e.st, nil))
		in, err := e.st.DeclareIncident(e.ctx, herald.Declaration{Name: "Partner API errors", Impact: herald.ImpactMajor,
			Body: "We are investigating errors on the partner API.", Components: []herald.ComponentTarget{
				{ComponentID: api.ID, Status: herald.PartialOutage}}}, e.boss.ID, []string{"public", "engineering"}, "Ada Obi")
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]int
		eventually(t, "every subscriber's mail", func() (bool, string) {
			got = map[string]int{}
			for _, m := range e.smtp.Messages() {
				if strings.Contains(m.Subject, "Partner API errors") && strings.HasSuffix(m.To[0], "@clients.example") {
					got[m.To[0]]++
				}
			}
			return len(got) >= len(want), fmt.Sprintf("%d of %d subscribers told", len(got), len(want))
		})
		for addr := range want {
			if got[addr] != 1 {
				t.Errorf("%s got %d mails; want 1", addr, got[addr])
			}
		}
		for _, addr := range []string{"portal-only@clients.example", "pending@clients.example", "left@clients.example"} {
			if got[addr] != 0 {
				t.Errorf("%s was told (%d)", addr, got[addr])
			}
		}
		// The mail server has them; the deliveries are recorded sent just after.
		eventually(t, "every subscriber delivery recorded sent", func() (bool, string) {
			counts, err := e.st.SubscriberDeliveryCounts(e.ctx, in.ID)
			if err != nil {
				return false, err.Error()
			}
			return counts[herald.ChannelEmail][herald.DeliverySent] == len(want) && len(counts[herald.ChannelEmail]) == 1,
				fmt.Sprintf("%v; want %d sent and nothing else", counts, len(want))
		})
		fos, err := e.st.Fanouts(e.ctx, in.ID)
		if err != nil || len(fos) != 1 || !fos[0].Done || fos[0].Queued != len(want) || fos[0].Event != herald.EventIncidentCreated {
			t.Errorf("fan-outs %+v, %v", fos, err)
		}
		// The plan's own messages are not drowned: the incident's delivery
		// log lists no subscriber rows.
		for _, d := range e.deliveries(in.ID) {
			if d.Kind == herald.KindSubscriber {
				t.Fatalf("a subscriber delivery in the incident's log: %+v", d)
			}
		}

		// The mail's headers: a signed one-click link that unsubscribes.
		var m0 = e.smtp.Messages()
		var lu, lup string
		for _, m := range m0 {
			if len(m.To) == 1 && m.To[0] == "partner00@clients.example" {
				lu, lup = m.Header.Get("List-Unsubscribe"), m.Header.Get("List-Unsubscribe-Post")
			}
		}
		if lup != "List-Unsubscribe=One-Click" || !strings.HasPrefix(lu, "<") {
			t.Fatalf("List-Unsubscribe %q, List-Unsubscribe-Post %q", lu, lup)
		}
		link, err := url.Parse(strings.Trim(lu, "<>"))
		if err != nil || !strings.HasPrefix(link.Query().Get("token"), "s1.") {
			t.Fatalf("unsubscribe link %q: %v", lu, err)
		}
		sub, err := e.st.Unsubscribe(e.ctx, link.Query().Get("token"))
		if err != nil || sub.Address != "partner00@clients.example" || sub.State != herald.SubscriberUnsubscribed {
			t.Errorf("the mail's link unsubscribed %+v, %v", sub, err)
		}

		// A drill is told to nobody.
		drill, err := e.st.Declare(e.ctx, herald.Declaration{Name: "DR exercise", Impact: herald.ImpactMajor, Body: "Drill.",
			Drill: true}, "test")
		if err != nil {
			t.Fatal(err)
		}
		if fos, _ := e.st.Fanouts(e.ctx, drill.ID); len(fos) != 0 {
			t.Errorf("a drill fanned out: %+v", fos)
		}
	})
}
