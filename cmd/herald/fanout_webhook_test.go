package main

// The webhook subscribers of TestKillDuringSubscriberFanout: a local TLS
// receiver (comms/webhook/webhooktest) that checks each post's signature
// with its subscriber's secret, behind a front that holds each answer a
// little, and a few endpoints' answers until the kill (a kill then leaves
// posts received and not recorded), and the checks of what it received
// against Herald's deliveries.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/webhook"
	"github.com/kredete/herald/comms/webhook/webhooktest"
	"github.com/kredete/herald/statusapi"
)

// hookReceiver is the webhook subscribers' endpoint: every subscriber has
// its own path under URL, and its secret registered for that path.
type hookReceiver struct {
	URL      string // the front's https://127.0.0.1:PORT
	CertFile string // its certificate, PEM, for the replicas' SSL_CERT_FILE
	recv     *webhooktest.Server
	client   *http.Client // the front's, to the receiver
	latency  time.Duration
	held     atomic.Int32 // posts the receiver took whose answer the front holds
	heldSlow atomic.Int32 // of which to slow endpoints

	slowHold time.Duration
	gate     chan struct{} // closed by release
	once     sync.Once

	mu          sync.Mutex
	slow        map[string]bool       // paths whose answers wait for release, at most slowHold
	posts       []webhooktest.Request // what the receiver took, in order
	first, last time.Time             // when the front got the first and the latest post
}

// newHookReceiver starts a webhooktest TLS receiver and its front, which
// reads each post whole, hands it to the receiver (who records it and
// checks its signature), and holds the receiver's answer for latency
// before giving it to Herald: a replica killed meanwhile has a post
// received that it never recorded, and sends it again when resumed (with
// the same Idempotency-Key).
//
// The answers to a slow endpoint's posts are held until release (the
// kill), or slowHold at most: kept well within the replicas' job timeout,
// after which a replica would give a held post up and send it again.
func newHookReceiver(t *testing.T, latency, slowHold time.Duration) *hookReceiver {
	t.Helper()
	h := &hookReceiver{recv: webhooktest.NewTLS(t, "no-subscriber-has-this-secret"), latency: latency,
		slow: map[string]bool{}, slowHold: slowHold, gate: make(chan struct{})}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.recv.CertPool()}}
	h.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	front := httptest.NewUnstartedServer(http.HandlerFunc(h.serve))
	front.Config.ErrorLog = log.New(io.Discard, "", 0) // a killed replica's connections end abruptly
	front.StartTLS()
	h.URL = front.URL
	t.Cleanup(func() {
		h.release() // never leave an answer held: Close waits for them
		front.Close()
		tr.CloseIdleConnections()
	})
	h.CertFile = filepath.Join(t.TempDir(), "webhook-receiver.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw})
	if err := os.WriteFile(h.CertFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	// Collect the receiver's posts as they come (its channel holds 4096).
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case r := <-h.recv.Requests:
				h.mu.Lock()
				h.posts = append(h.posts, r)
				h.mu.Unlock()
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return h
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the sender died mid-post: nothing was received
	}
	h.mu.Lock()
	if h.first.IsZero() {
		h.first = time.Now()
	}
	h.last = time.Now()
	h.mu.Unlock()
	// Forwarded whole even if the sender dies now: the receiver took it.
	req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, h.recv.URL+r.URL.RequestURI(),
		bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := h.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	h.held.Add(1)
	defer h.held.Add(-1)
	wait, gate := h.latency, (<-chan struct{})(nil)
	h.mu.Lock()
	slow := h.slow[r.URL.Path]
	h.mu.Unlock()
	if slow {
		select {
		case <-h.gate: // released: answered as any other
		default:
			wait, gate = h.slowHold, h.gate
			h.heldSlow.Add(1)
			defer h.heldSlow.Add(-1)
		}
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-gate:
	case <-r.Context().Done(): // the sender is gone: no one to answer
		return
	}
	w.WriteHeader(resp.StatusCode)
}

// slowPath makes path a slow endpoint.
func (h *hookReceiver) slowPath(path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.slow[path] = true
}

// release answers the slow endpoints' held posts at once; their later
// posts are answered as any other.
func (h *hookReceiver) release() { h.once.Do(func() { close(h.gate) }) }

// span is when the first and the latest post arrived.
func (h *hookReceiver) span() (first, last time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.first, h.last
}

// collected is every post the receiver took, once the collector has read
// as many as the receiver counted (it counts a post before the collector
// gets it).
func (h *hookReceiver) collected(t *testing.T) []webhooktest.Request {
	t.Helper()
	var out []webhooktest.Request
	eventually(t, 10*time.Second, "every webhook post collected", func() (bool, string) {
		h.mu.Lock()
		out = slices.Clone(h.posts)
		h.mu.Unlock()
		return len(out) == h.recv.Count(), fmt.Sprintf("%d of %d collected", len(out), h.recv.Count())
	})
	return out
}

// hookNote is one notification to one webhook subscriber: its URL's path,
// and what it tells, as Herald's deliveries name it (the update's id, or
// the component change's ref).
type hookNote struct{ path, ref string }

func (n hookNote) String() string { return n.path + " " + n.ref }

// hookPost is a post decoded strictly as Statuspage's incident or
// component notification.
type hookPost struct {
	Meta            webhook.Meta        `json:"meta"`
	Page            webhook.Page        `json:"page"`
	Incident        *statusapi.Incident `json:"incident"`
	ComponentUpdate *struct {
		CreatedAt   string `json:"created_at"`
		NewStatus   string `json:"new_status"`
		OldStatus   string `json:"old_status"`
		ID          string `json:"id"`
		ComponentID string `json:"component_id"`
	} `json:"component_update"`
	Component *statusapi.Component `json:"component"`
}

// hookExpect is what the incident's webhook notifications must say.
type hookExpect struct {
	incident string
	api      string            // api-platform's component id
	bodies   map[string]string // by update id: the update's text
}

// note decodes a post and checks it against what the notifications must
// say; it returns the notification it is, or a problem.
func (e hookExpect) note(r webhooktest.Request) (hookNote, string) {
	n := hookNote{path: r.Path}
	var p hookPost
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return n, fmt.Sprintf("does not decode strictly as a Statuspage notification: %v: %.300s", err, r.Body)
	}
	if p.Page.ID != "fanout" || p.Page.StatusIndicator == "" {
		return n, fmt.Sprintf("page %+v, want the page fanout with its status", p.Page)
	}
	if u, err := url.Parse(p.Meta.Unsubscribe); err != nil || !strings.HasPrefix(u.Query().Get("token"), "s1.") {
		return n, fmt.Sprintf("meta.unsubscribe %q carries no subscriber link token", p.Meta.Unsubscribe)
	}
	switch {
	case p.Incident != nil && p.ComponentUpdate == nil && p.Component == nil:
		in := p.Incident
		if in.ID != e.incident || len(in.IncidentUpdates) == 0 {
			return n, fmt.Sprintf("incident %s with %d updates, want %s", in.ID, len(in.IncidentUpdates), e.incident)
		}
		up := in.IncidentUpdates[0] // the newest: the one told
		n.ref = up.ID
		if want, ok := e.bodies[up.ID]; !ok || up.Body != want {
			return n, fmt.Sprintf("incident %s's newest update %s says %q; want an update of the test, as written", in.ID, up.ID, up.Body)
		}
		if len(in.Components) != 1 || in.Components[0].ID != e.api || in.Components[0].Status != string(herald.PartialOutage) {
			return n, fmt.Sprintf("incident %s's components %+v, want api-platform in partial outage", in.ID, in.Components)
		}
	case p.ComponentUpdate != nil && p.Component != nil && p.Incident == nil:
		cu, comp := p.ComponentUpdate, p.Component
		id, err := strconv.ParseInt(cu.ID, 10, 64)
		if err != nil {
			return n, fmt.Sprintf("component_update.id %q", cu.ID)
		}
		n.ref = herald.ComponentChangeRef(id)
		if cu.ComponentID != e.api || cu.OldStatus != string(herald.Operational) || cu.NewStatus != string(herald.PartialOutage) ||
			comp.ID != e.api || comp.Status != string(herald.PartialOutage) {
			return n, fmt.Sprintf("component_update %+v, component %s %s; want api-platform from operational to partial_outage",
				*cu, comp.ID, comp.Status)
		}
	default:
		return n, fmt.Sprintf("neither an incident nor a component notification: %.300s", r.Body)
	}
	return n, ""
}

// checkWebhooks asserts what the receiver took against Herald's webhook
// deliveries of the incident (ds) and the notifications wanted: every
// post signed with its subscriber's secret and carrying a delivery's id
// as Idempotency-Key, to that delivery's address, telling that delivery's
// update or change; each wanted notification received, under one key
// (a copy after a kill is counted, and allowed only under the same key);
// each delivery received at least once; nothing else. It returns the
// copies.
func checkWebhooks(t *testing.T, h *hookReceiver, ds []herald.Delivery, want map[hookNote]bool, e hookExpect) int {
	t.Helper()
	posts := h.collected(t)
	byID := map[string]herald.Delivery{}
	for _, d := range ds {
		byID[d.ID] = d
	}
	keys := map[hookNote]map[string]int{} // notification → key → posts
	byKey := map[string]int{}
	problems := 0
	bad := func(format string, args ...any) {
		t.Helper()
		if problems++; problems <= 20 {
			t.Errorf(format, args...)
		}
	}
	for _, r := range posts {
		key := r.Header.Get(webhook.IdempotencyHeader)
		if r.SignatureErr != nil {
			bad("a post to %s (key %s) does not verify with its subscriber's secret: %v", r.Path, key, r.SignatureErr)
		}
		n, problem := e.note(r)
		if problem != "" {
			bad("a post to %s (key %s) %s", r.Path, key, problem)
			continue
		}
		if key == "" {
			bad("a post to %s (%s) without an Idempotency-Key", r.Path, n.ref)
			continue
		}
		byKey[key]++
		if keys[n] == nil {
			keys[n] = map[string]int{}
		}
		keys[n][key]++
		if !want[n] {
			bad("%s received %s, which it is not concerned by (or not yet)", n.path, n.ref)
		}
		d, ok := byID[key]
		if !ok {
			bad("a post to %s (%s) under key %s, which is none of the incident's webhook deliveries", n.path, n.ref, key)
			continue
		}
		if u, err := url.Parse(d.Recipient); err != nil || u.Path != n.path || d.UpdateID != n.ref {
			bad("a post to %s telling %s under key %s; that delivery is to %s, telling %s", n.path, n.ref, key, d.Recipient, d.UpdateID)
		}
	}
	copies := 0
	var copied []string
	for n := range want {
		got := keys[n]
		switch {
		case len(got) == 0:
			bad("%s never received %s", n.path, n.ref)
		case len(got) > 1:
			bad("%s received %s under %d different Idempotency-Keys: %v", n.path, n.ref, len(got), got)
		}
		for key, k := range got {
			if k > 1 {
				copies += k - 1
				copied = append(copied, fmt.Sprintf("%s %s ×%d (key %s)", n.path, n.ref, k, key))
			}
		}
	}
	slices.Sort(copied)
	for _, d := range ds {
		if byKey[d.ID] == 0 {
			bad("webhook delivery %s (%s to %s) is %s, and the receiver never got its key", d.ID, d.UpdateID, d.Recipient, d.State)
		}
	}
	if problems > 20 {
		t.Errorf("... %d webhook problems in all", problems)
	}
	t.Logf("webhooks: %d posts for %d notifications wanted, %d copies under the same Idempotency-Key: %v", len(posts), len(want),
		copies, copied)
	return copies
}

// hookNotes is every notification of refs to every webhook subscriber of
// addrs.
func hookNotes(t *testing.T, addrs map[string]bool, refs ...string) map[hookNote]bool {
	t.Helper()
	out := map[hookNote]bool{}
	for a := range addrs {
		u, err := url.Parse(a)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range refs {
			out[hookNote{u.Path, ref}] = true
		}
	}
	return out
}

// webhookDeliveries splits the webhook deliveries off ds.
func webhookDeliveries(ds []herald.Delivery) (hooks, others []herald.Delivery) {
	for _, d := range ds {
		if d.Channel == herald.ChannelWebhook {
			hooks = append(hooks, d)
		} else {
			others = append(others, d)
		}
	}
	return hooks, others
}

// byRef groups deliveries by the update or change they tell.
func byRef(ds []herald.Delivery) map[string][]herald.Delivery {
	out := map[string][]herald.Delivery{}
	for _, d := range ds {
		out[d.UpdateID] = append(out[d.UpdateID], d)
	}
	return out
}
