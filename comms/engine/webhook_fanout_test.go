package engine_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/engine"
	"github.com/kredete/herald/comms/webhook"
	"github.com/kredete/herald/comms/webhook/webhooktest"
	"github.com/kredete/herald/statusapi"
)

// webhookEnv is the engine env with webhook subscribers posting to one
// local TLS receiver, each at its own path with its own secret.
type webhookEnv struct {
	*env
	recv *webhooktest.Server
	subs map[string]herald.Subscriber // by path
}

func newWebhookEnv(t *testing.T, dialect string) *webhookEnv {
	e := &webhookEnv{env: newEnv(t, dialect, envOptions{}), subs: map[string]herald.Subscriber{}}
	e.recv = webhooktest.NewTLS(t, "no-path-secret-is-this-one")
	e.st.EnableFanout(true)
	return e
}

// subscribe signs up and confirms a webhook at path.
func (e *webhookEnv) subscribe(path string, all bool, comps ...string) herald.Subscriber {
	e.t.Helper()
	res, err := e.st.Subscribe(e.ctx, herald.SubscriptionRequest{Channel: herald.SubscriberWebhook, Address: e.recv.URL + path,
		OwnerEmail: "owner" + strings.ReplaceAll(path, "/", "-") + "@partners.example", AllComponents: all, ComponentIDs: comps},
		e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	sub, err := e.st.ConfirmSubscriber(e.ctx, res.Token)
	if err != nil {
		e.t.Fatal(err)
	}
	if sub.WebhookSecret == "" {
		e.t.Fatal("a webhook subscriber without a secret")
	}
	e.recv.Secret(path, sub.WebhookSecret)
	e.subs[path] = sub
	return sub
}

// startEngine runs an engine that posts webhooks through the real client
// (trusting the receiver's certificate, loopback allowed).
func (e *webhookEnv) startEngine(maxAttempts int) {
	chans := map[herald.Channel]comms.Channel{}
	for k, v := range e.chans {
		chans[k] = v
	}
	chans[herald.ChannelWebhook] = webhook.New(webhook.Config{Allow: webhooktest.Loopback(), RootCAs: e.recv.CertPool()})
	eng := engine.New(engine.Options{Plan: e.plan, Store: e.st, Channels: chans, Now: e.clock.Now,
		Logger: e.log.With("dialect", e.dialect), MaxAttempts: maxAttempts, WebhookDisableAfter: 3,
		Webhooks: webhook.Renderer{Page: e.plan.Page, Location: time.UTC, Documentation: "https://status.kredete.example/subscribe?via=webhook"}})
	e.start(e.st, eng)
}

// notification is a received post, decoded strictly as Statuspage's
// incident or component notification.
type notification struct {
	path      string
	incident  *statusapi.Incident
	component *statusapi.Component
	update    *struct {
		CreatedAt   string `json:"created_at"`
		NewStatus   string `json:"new_status"`
		OldStatus   string `json:"old_status"`
		ID          string `json:"id"`
		ComponentID string `json:"component_id"`
	}
	meta webhook.Meta
	page webhook.Page
	key  string // Idempotency-Key
}

func decodeNotification(t *testing.T, r webhooktest.Request) notification {
	t.Helper()
	if r.SignatureErr != nil {
		t.Fatalf("a post to %s with a bad signature: %v", r.Path, r.SignatureErr)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &probe); err != nil {
		t.Fatalf("post to %s: %v: %s", r.Path, err, r.Body)
	}
	n := notification{path: r.Path, key: r.Header.Get(webhook.IdempotencyHeader)}
	strict := func(v any) {
		t.Helper()
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("post to %s does not decode strictly: %v: %s", r.Path, err, r.Body)
		}
	}
	if _, ok := probe["incident"]; ok {
		var v struct {
			Meta     webhook.Meta       `json:"meta"`
			Page     webhook.Page       `json:"page"`
			Incident statusapi.Incident `json:"incident"`
		}
		strict(&v)
		n.meta, n.page, n.incident = v.Meta, v.Page, &v.Incident
		return n
	}
	var v struct {
		Meta            webhook.Meta        `json:"meta"`
		Page            webhook.Page        `json:"page"`
		ComponentUpdate json.RawMessage     `json:"component_update"`
		Component       statusapi.Component `json:"component"`
	}
	strict(&v)
	n.meta, n.page, n.component = v.Meta, v.Page, &v.Component
	n.update = &struct {
		CreatedAt   string `json:"created_at"`
		NewStatus   string `json:"new_status"`
		OldStatus   string `json:"old_status"`
		ID          string `json:"id"`
		ComponentID string `json:"component_id"`
	}{}
	dec := json.NewDecoder(bytes.NewReader(v.ComponentUpdate))
	dec.DisallowUnknownFields()
	if err := dec.Decode(n.update); err != nil {
		t.Fatalf("component_update: %v", err)
	}
	return n
}

// TestWebhookFanout: a declaration reaches every confirmed webhook
// subscriber it concerns, once per notification: the incident as the API
// shows it and the component's change, each signed with that subscriber's
// own secret, decoded strictly as Statuspage's JSON; subscribers of other
// components get neither. A component changed on its own, outside any
// incident, is told to those who follow it. An endpoint answering 429 with
// Retry-After gets the notification again later and once it takes it.
func TestWebhookFanout(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newWebhookEnv(t, dialect)
		api, portal := e.component("api-platform"), e.component("customer-portal")
		e.subscribe("/all", true)
		e.subscribe("/api", false, api.ID)
		e.subscribe("/portal", false, portal.ID)
		e.subscribe("/busy", true)
		e.recv.AnswerPath("/busy", http.StatusTooManyRequests) // until told otherwise below
		var reqs []webhooktest.Request
		var mu sync.Mutex
		stop := make(chan struct{})
		t.Cleanup(func() { close(stop) })
		go func() {
			for {
				select {
				case r := <-e.recv.Requests:
					mu.Lock()
					reqs = append(reqs, r)
					mu.Unlock()
				case <-stop:
					return
				}
			}
		}()
		received := func() []webhooktest.Request {
			mu.Lock()
			defer mu.Unlock()
			return append([]webhooktest.Request(nil), reqs...)
		}
		e.startEngine(8)

		in, err := e.st.DeclareIncident(e.ctx, herald.Declaration{Name: "Partner API errors", Impact: herald.ImpactMajor,
			Body: "We are investigating errors on the partner API.", Components: []herald.ComponentTarget{
				{ComponentID: api.ID, Status: herald.PartialOutage}}}, e.boss.ID, []string{"public", "engineering"}, "Ada Obi")
		if err != nil {
			t.Fatal(err)
		}
		// /all and /api: the incident and the component's change. /busy
		// is refused for now: at least one attempt of each.
		eventually(t, "the first notifications", func() (bool, string) {
			n := 0
			for _, r := range received() {
				if r.Path == "/all" || r.Path == "/api" {
					n++
				}
			}
			return n >= 4 && e.recv.CountPath("/busy") >= 2, fmt.Sprintf("%d posts to /all and /api, %d to /busy", n, e.recv.CountPath("/busy"))
		})
		// A second update while /busy still refuses: the declaration's
		// notification, sent to it late, still tells the declaration
		// (under its key the content never changes), and the second
		// update's tells both.
		const second = "The cause is a faulty deploy of the partner gateway; rolling back."
		if _, err := e.st.PostUpdate(e.ctx, in.ID, herald.UpdateInput{Status: herald.Identified, Body: second}, "Ada Obi"); err != nil {
			t.Fatal(err)
		}
		e.recv.AnswerPath("/busy", http.StatusNoContent)
		eventually(t, "every webhook delivery final", func() (bool, string) {
			counts, err := e.st.SubscriberDeliveryCounts(e.ctx, in.ID)
			if err != nil {
				return false, err.Error()
			}
			c := counts[herald.ChannelWebhook]
			return c[herald.DeliverySent] == 9 && len(c) == 1, fmt.Sprintf("%v; want 9 sent", c)
		})

		// Every post the receiver counted has reached the collector.
		eventually(t, "every post collected", func() (bool, string) {
			return len(received()) == e.recv.Count(), fmt.Sprintf("%d of %d collected", len(received()), e.recv.Count())
		})
		byPath := map[string][]notification{}
		keys := map[string]int{}
		bodies := map[string]string{} // what each key told
		for _, r := range received() {
			n := decodeNotification(t, r)
			if r.Path == "/busy" {
				// The refused attempts and the accepted one carry the
				// notification's key, and the same content.
				keys[n.key]++
				if had, ok := bodies[n.key]; ok && had != string(r.Body) {
					t.Errorf("/busy: key %s came with two contents:\n%s\n%s", n.key, had, r.Body)
				}
				bodies[n.key] = string(r.Body)
			}
			byPath[r.Path] = append(byPath[r.Path], n)
		}
		if len(byPath["/portal"]) != 0 {
			t.Errorf("/portal follows another component and got %d posts", len(byPath["/portal"]))
		}
		for _, path := range []string{"/all", "/api", "/busy"} {
			var incidents, comps int
			told := map[string]bool{} // by the newest update's text
			for _, n := range byPath[path] {
				switch {
				case n.incident != nil:
					incidents++
					if n.incident.ID != in.ID || n.incident.Name != "Partner API errors" || n.incident.Impact != "major" {
						t.Errorf("%s: incident %+v", path, n.incident)
					}
					// The declaration's notification has the declaration
					// alone, even the one /busy took after the second
					// update; the second's has both.
					newest := ""
					if len(n.incident.IncidentUpdates) > 0 {
						newest = n.incident.IncidentUpdates[0].Body
					}
					told[newest] = true
					switch newest {
					case second:
						if len(n.incident.IncidentUpdates) != 2 || n.incident.Status != "identified" {
							t.Errorf("%s: the second update's notification: %+v", path, n.incident)
						}
					case "We are investigating errors on the partner API.":
						if len(n.incident.IncidentUpdates) != 1 || n.incident.Status != "investigating" {
							t.Errorf("%s: the declaration's notification: status %s, %d updates", path, n.incident.Status,
								len(n.incident.IncidentUpdates))
						}
					default:
						t.Errorf("%s: a notification telling %q", path, newest)
					}
					if len(n.incident.Components) != 1 || n.incident.Components[0].ID != api.ID ||
						n.incident.Components[0].Status != "partial_outage" {
						t.Errorf("%s: the incident's components %+v", path, n.incident.Components)
					}
				case n.component != nil:
					comps++
					if n.component.ID != api.ID || n.component.Status != "partial_outage" || n.update.NewStatus != "partial_outage" ||
						n.update.OldStatus != "operational" || n.update.ComponentID != api.ID {
						t.Errorf("%s: component %+v, update %+v", path, n.component, n.update)
					}
				}
				if n.page.StatusIndicator != "major" || n.page.ID != e.plan.Page.ID {
					t.Errorf("%s: page %+v; want the page's id and indicator major", path, n.page)
				}
				u, err := url.Parse(n.meta.Unsubscribe)
				if err != nil || !strings.HasPrefix(u.Query().Get("token"), "s1.") {
					t.Errorf("%s: meta.unsubscribe %q", path, n.meta.Unsubscribe)
				}
				if n.key == "" {
					t.Errorf("%s: no Idempotency-Key", path)
				}
			}
			if path == "/busy" {
				continue // its refused attempts are counted by key below
			}
			if incidents != 2 || comps != 1 || len(told) != 2 {
				t.Errorf("%s got %d incident notifications (telling %d updates) and %d component ones; want 2 (2) and 1",
					path, incidents, len(told), comps)
			}
		}
		if got := len(keys); got != 3 {
			t.Errorf("/busy was sent %d distinct notifications; want 3 (each retried under its own key)", got)
		}

		// The busy endpoint's link unsubscribes it.
		var link string
		for _, n := range byPath["/all"] {
			link = n.meta.Unsubscribe
		}
		u, _ := url.Parse(link)
		if sub, err := e.st.Unsubscribe(e.ctx, u.Query().Get("token")); err != nil || sub.ID != e.subs["/all"].ID {
			t.Errorf("meta.unsubscribe unsubscribed %+v, %v", sub, err)
		}

		// A component changed on its own reaches its followers (/api,
		// /busy; /all left), with no incident.
		before := 0
		for _, r := range received() {
			if r.Path == "/api" {
				before++
			}
		}
		if _, err := e.st.SetComponentStatus(e.ctx, api.ID, herald.DegradedPerformance, "Ada Obi"); err != nil {
			t.Fatal(err)
		}
		// Wait on what the collector has read (the receiver counts a post
		// before the collector gets it).
		var last webhooktest.Request
		eventually(t, "the component's change told", func() (bool, string) {
			n := 0
			for _, r := range received() {
				if r.Path == "/api" {
					n++
					last = r
				}
			}
			return n == before+1, fmt.Sprintf("%d posts to /api collected", n)
		})
		// Its delivery, of no incident (the Idempotency-Key is its id), is
		// recorded as sent, and so never sent again.
		id := last.Header.Get(webhook.IdempotencyHeader)
		eventually(t, "the change's delivery, of no incident, recorded as sent", func() (bool, string) {
			d, err := e.st.Delivery(e.ctx, id)
			if err != nil {
				return false, err.Error()
			}
			return d.State == herald.DeliverySent, describe([]herald.Delivery{d})
		})
		if got := e.recv.CountPath("/api"); got != before+1 {
			t.Errorf("/api got %d posts, want %d: the change's posted once", got, before+1)
		}
		n := decodeNotification(t, last)
		if n.component == nil || n.update.OldStatus != "partial_outage" || n.update.NewStatus != "degraded_performance" {
			t.Errorf("the change on its own: %+v %+v", n.component, n.update)
		}
		if n.page.StatusIndicator != "major" { // the incident is still open, major
			t.Errorf("page %+v", n.page)
		}
		if got := e.recv.CountPath("/portal"); got != 0 {
			t.Errorf("/portal got %d posts", got)
		}
	})
}

// TestWebhookDisabledAfterFailures: an endpoint that refuses notification
// after notification is disabled after three given up in a row, its owner
// is told once by mail (naming the host, never the URL's path), and it
// receives nothing more; another endpoint is not affected. A success in
// between starts the count again.
func TestWebhookDisabledAfterFailures(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newWebhookEnv(t, dialect)
		stop := make(chan struct{})
		t.Cleanup(func() { close(stop) })
		go func() { // drain: this test reads counts
			for {
				select {
				case <-e.recv.Requests:
				case <-stop:
					return
				}
			}
		}()
		e.subscribe("/gone/secret-token-in-path", true)
		e.subscribe("/fine", true)
		e.recv.AnswerPath("/gone/secret-token-in-path", http.StatusGone) // permanent: given up at once
		e.startEngine(8)
		broken := e.subs["/gone/secret-token-in-path"]

		// One failure, then a success: the count starts again.
		in := e.declare("Card payments failing") // one incident notification each
		eventually(t, "one failure counted", func() (bool, string) {
			s, err := e.st.SubscriberByID(e.ctx, broken.ID)
			return err == nil && s.Failures == 1, fmt.Sprintf("%+v %v", s.Failures, err)
		})
		e.recv.AnswerPath("/gone/secret-token-in-path", http.StatusOK)
		e.compose(in.ID, herald.Composition{Status: herald.Identified, Main: "Found it.", Audiences: []string{"public"}})
		eventually(t, "the count reset", func() (bool, string) {
			s, err := e.st.SubscriberByID(e.ctx, broken.ID)
			return err == nil && s.Failures == 0 && e.recv.CountPath("/gone/secret-token-in-path") == 2,
				fmt.Sprintf("failures %d, posts %d, %v", s.Failures, e.recv.CountPath("/gone/secret-token-in-path"), err)
		})

		// Three refused in a row: disabled.
		e.recv.AnswerPath("/gone/secret-token-in-path", http.StatusGone)
		for i := range 3 {
			e.compose(in.ID, herald.Composition{Status: herald.Monitoring, Main: fmt.Sprintf("Watching, %d.", i), Audiences: []string{"public"}})
		}
		eventually(t, "the webhook disabled", func() (bool, string) {
			s, err := e.st.SubscriberByID(e.ctx, broken.ID)
			return err == nil && s.State == herald.SubscriberDisabled, fmt.Sprintf("%s, %d failures, %v", s.State, s.Failures, err)
		})
		var notice []string
		eventually(t, "the owner told", func() (bool, string) {
			notice = nil
			for _, m := range e.smtp.Messages() {
				if m.To[0] == broken.OwnerEmail {
					text, err := m.Part("text/plain")
					if err != nil {
						return false, err.Error()
					}
					notice = append(notice, m.Subject+"\n"+text)
				}
			}
			return len(notice) >= 1, fmt.Sprintf("%d mails to the owner", len(notice))
		})
		host := "127.0.0.1"
		if !strings.Contains(notice[0], host) || !strings.Contains(notice[0], "subscribe?via=webhook") ||
			!strings.Contains(notice[0], "410") {
			t.Errorf("the owner's mail does not name the host, the problem and how to start again:\n%s", notice[0])
		}
		if strings.Contains(notice[0], "secret-token-in-path") {
			t.Errorf("the owner's mail quotes the URL's path:\n%s", notice[0])
		}

		// Nothing more is posted to it; the other endpoint still gets
		// everything.
		posts := e.recv.CountPath("/gone/secret-token-in-path")
		fine := e.recv.CountPath("/fine")
		e.compose(in.ID, herald.Composition{Status: herald.Resolved, Main: "Fixed.", Audiences: []string{"public"}})
		eventually(t, "the resolution told to /fine", func() (bool, string) {
			return e.recv.CountPath("/fine") == fine+1, fmt.Sprintf("%d posts to /fine", e.recv.CountPath("/fine"))
		})
		eventually(t, "every webhook delivery final", func() (bool, string) {
			counts, err := e.st.SubscriberDeliveryCounts(e.ctx, in.ID)
			if err != nil {
				return false, err.Error()
			}
			c := counts[herald.ChannelWebhook]
			return c[herald.DeliveryQueued]+c[herald.DeliveryRetrying]+c[herald.DeliverySending] == 0, fmt.Sprint(c)
		})
		if got := e.recv.CountPath("/gone/secret-token-in-path"); got != posts {
			t.Errorf("the disabled webhook got %d more posts", got-posts)
		}
		// Exactly one notice, even though the store was asked again.
		n := 0
		for _, m := range e.smtp.Messages() {
			if m.To[0] == broken.OwnerEmail {
				n++
			}
		}
		if n != 1 {
			t.Errorf("the owner got %d notices; want 1", n)
		}
	})
}
