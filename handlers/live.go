package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Broker fans a "something changed" signal out to every open page over
// server-sent events. Each subscriber holds the latest version only: a slow
// browser never blocks the others and never queues stale events.
type Broker struct {
	mu      sync.Mutex
	subs    map[chan int64]struct{}
	version int64
	closed  chan struct{} // closed by Close: every stream ends
	close   sync.Once
}

// NewBroker returns an empty broker.
func NewBroker() *Broker {
	return &Broker{subs: map[chan int64]struct{}{}, closed: make(chan struct{})}
}

// Close ends every open stream, and any opened later at once. The server
// calls it when it shuts down (http.Server.RegisterOnShutdown): a stream
// lasts as long as the page is open, so without it Shutdown would wait out
// its whole timeout for any open page and fail. The browser reconnects
// after the stream's retry interval, to another replica behind the load
// balancer.
func (b *Broker) Close() { b.close.Do(func() { close(b.closed) }) }

// Publish announces a new version to every subscriber.
func (b *Broker) Publish(version int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if version <= b.version {
		return
	}
	b.version = version
	for ch := range b.subs {
		select {
		case <-ch: // drop the older version not yet read
		default:
		}
		ch <- version
	}
}

// Subscribe returns a channel that receives versions newer than seen,
// primed with the current one when it is newer, so a reconnecting browser
// catches up at once and a fresh page does not refetch itself.
func (b *Broker) Subscribe(seen int64) (chan int64, func()) {
	ch := make(chan int64, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	if b.version > seen {
		ch <- b.version
	}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// Clients is how many browsers are connected.
func (b *Broker) Clients() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// sseHeartbeat keeps proxies from closing an idle stream.
const sseHeartbeat = 25 * time.Second

// ServeEvents streams `event: <name>` with the version as data whenever the
// data changes. htmx's SSE extension listens with sse-connect and triggers
// the page's fragments to refetch. The browser reconnects on its own; the
// first event after a (re)connect carries the current version, so a page
// that missed changes while away refetches at once.
func (b *Broker) ServeEvents(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no")
		// A stream outlives the server's write timeout by design.
		if err := rc.SetWriteDeadline(time.Time{}); err != nil && err != http.ErrNotSupported {
			return
		}
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "retry: 2000\n\n")
		rc.Flush() //nolint:errcheck
		// The page says which version it shows (?v=); the browser's
		// automatic reconnect repeats the URL and sends Last-Event-ID.
		seen, _ := strconv.ParseInt(r.URL.Query().Get("v"), 10, 64)
		if id, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil && id > seen {
			seen = id
		}
		ch, cancel := b.Subscribe(seen)
		defer cancel()
		t := time.NewTicker(sseHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-b.closed:
				return
			case v := <-ch:
				id := strconv.FormatInt(v, 10)
				if _, err := fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", id, name, id); err != nil {
					return
				}
			case <-t.C:
				if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
					return
				}
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}
