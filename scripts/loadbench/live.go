package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// viewer is one reader of the public page with it open: it loads the page,
// holds the server-sent events stream the page connects to (sse-connect),
// and on every "changed" event fetches the page's fragment as htmx does
// (GET / with HX-Request: true). It notes, for each update of the run,
// when the fragment showing it arrived and when the event that led to
// that fetch arrived.
type viewer struct {
	base   string
	marker *regexp.Regexp // an update's text; its group 1 is the update's number
	client *http.Client   // the page and its fragments (keep-alive)
	stream *http.Client   // the event stream

	connected chan struct{} // the stream answered and sent its first bytes

	mu      sync.Mutex
	shown   map[int]time.Time // update → its fragment arrived
	eventAt map[int]time.Time // update → the event that led to that fetch arrived
	events  int               // "changed" events received
	fetches int
	bytes   int64 // fragment bytes (decompressed)
	errs    []string
	fetchMS []float64 // each fragment fetch, ms
}

func newViewer(base string, marker *regexp.Regexp) *viewer {
	dial := &net.Dialer{Timeout: 10 * time.Second}
	return &viewer{base: base, marker: marker,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dial.DialContext,
			MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute}},
		stream: &http.Client{Transport: &http.Transport{DialContext: dial.DialContext,
			ResponseHeaderTimeout: 30 * time.Second}},
		connected: make(chan struct{}),
		shown:     map[int]time.Time{}, eventAt: map[int]time.Time{}}
}

func (v *viewer) fail(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.errs) < 1000 {
		v.errs = append(v.errs, fmt.Sprintf(format, args...))
	}
}

var reSSE = regexp.MustCompile(`sse-connect="([^"]+)"`)

// run watches until ctx ends. Every failure is recorded (errors());
// the stream ending or failing before ctx does is one.
func (v *viewer) run(ctx context.Context) {
	page, _, err := v.get(ctx, "/", false)
	if err != nil {
		v.fail("load the page: %v", err)
		close(v.connected)
		return
	}
	m := reSSE.FindSubmatch(page)
	if m == nil {
		v.fail("the page has no sse-connect")
		close(v.connected)
		return
	}
	v.see(page, time.Now(), time.Time{})
	events := html.UnescapeString(string(m[1]))
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.base+events, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := v.stream.Do(req)
	if err != nil {
		v.fail("open %s: %v", events, err)
		close(v.connected)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		v.fail("open %s: %d %s", events, resp.StatusCode, resp.Header.Get("Content-Type"))
		close(v.connected)
		return
	}

	// The reader stamps each event on arrival; the fetcher fetches once per
	// batch that arrived while it was busy (htmx queues the last trigger).
	arrivals := make(chan time.Time, 4096)
	fetched := make(chan struct{})
	go func() {
		defer close(fetched)
		for {
			var at time.Time
			select {
			case <-ctx.Done():
				return
			case at = <-arrivals:
			}
			for more := true; more; {
				select {
				case at = <-arrivals:
				default:
					more = false
				}
			}
			began := time.Now()
			body, hdr, err := v.get(ctx, "/", true)
			if err != nil {
				if ctx.Err() == nil {
					v.fail("fetch the fragment: %v", err)
				}
				continue
			}
			if hdr.Get("Content-Type") == "" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
				v.fail("fragment: Content-Type %q", hdr.Get("Content-Type"))
			}
			done := time.Now()
			v.mu.Lock()
			v.fetches++
			v.bytes += int64(len(body))
			v.fetchMS = append(v.fetchMS, float64(done.Sub(began).Microseconds())/1000)
			v.mu.Unlock()
			v.see(body, done, at)
		}
	}()

	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	var event string
	for sc.Scan() {
		line := sc.Text()
		if first {
			first = false
			close(v.connected)
		}
		switch {
		case line == "":
			if event == "changed" {
				at := time.Now()
				v.mu.Lock()
				v.events++
				v.mu.Unlock()
				arrivals <- at
			}
			event = ""
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		}
	}
	if first {
		close(v.connected)
	}
	if ctx.Err() == nil {
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		v.fail("the event stream ended: %v", err)
	}
	<-fetched
}

// get fetches path: the page, or (fragment) what htmx asks for on an
// event. It must answer 200.
func (v *viewer) get(ctx context.Context, path string, fragment bool) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.base+path, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "text/html")
	if fragment {
		req.Header.Set("HX-Request", "true")
		req.Header.Set("HX-Current-URL", v.base+"/")
		req.Header.Set("HX-Target", "content")
		req.Header.Set("HX-Trigger", "live-status")
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, errors.New(resp.Status)
	}
	return b, resp.Header, nil
}

// see notes the updates body shows for the first time.
func (v *viewer) see(body []byte, at, event time.Time) {
	ms := v.marker.FindAllSubmatch(body, -1)
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, m := range ms {
		n, err := strconv.Atoi(string(m[1]))
		if err != nil {
			continue
		}
		if _, ok := v.shown[n]; !ok {
			v.shown[n] = at
			v.eventAt[n] = event
		}
	}
}

// has tells whether the viewer has seen update n.
func (v *viewer) has(n int) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.shown[n]
	return ok
}
