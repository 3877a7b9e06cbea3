package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/kredete/herald/scripts/internal/benchkit"
)

// level is one wrk run and what happened around it.
type level struct {
	conns     int
	wrk       benchkit.Wrk
	wall      time.Duration // wrk's run
	posts     []post
	viewers   int
	shown     []int     // per reader: updates of the run it saw
	liveMS    []float64 // per reader and update: POST sent → fragment with it
	eventMS   []float64 // per reader and update: POST's 303 → the event that led to that fetch
	fetchMS   []float64 // every fragment fetch
	events    int       // events received, all readers
	fetches   int
	fragBytes float64 // mean fragment size
	missed    int     // (reader, update) pairs never shown
	viewErrs  []string
	viewErrN  int
	// CPU in cores over the wrk run.
	heraldCores, selfCores, wrkCores, pgCores, otherCores float64
	maxRSSKB, hwmKB                                       int64
}

// postErrs counts the console's failed posts.
func (l level) postErrs() (n int, first string) {
	for _, p := range l.posts {
		if p.err != nil {
			if n == 0 {
				first = p.err.Error()
			}
			n++
		}
	}
	return n, first
}

// errors is every failed request of the run.
func (l level) errors() int {
	n, _ := l.postErrs()
	return l.wrk.Errors() + n + l.viewErrN
}

func runLevel(ctx context.Context, o options, tmp, base string, conns int, cons *console, incident string, page []byte,
	mt meter, h *benchkit.Herald) (level, []byte, error) {
	l := level{conns: conns, viewers: o.viewers}
	tag := fmt.Sprintf("c%d-%s", conns, randomHex(3))
	marker := regexp.MustCompile(`Load test ` + regexp.QuoteMeta(tag) + ` update (\d+):`)

	// The readers.
	vctx, stopViewers := context.WithCancel(ctx)
	defer stopViewers()
	viewers := make([]*viewer, o.viewers)
	var vwg sync.WaitGroup
	for i := range viewers {
		viewers[i] = newViewer(base, marker)
		vwg.Add(1)
		go func(v *viewer) { defer vwg.Done(); v.run(vctx) }(viewers[i])
	}
	deadline := time.After(connectTimeout)
	for _, v := range viewers {
		select {
		case <-v.connected:
		case <-deadline:
			stopViewers()
			vwg.Wait()
			return l, page, fmt.Errorf("%d connections: the readers' event streams were not all open after %s", conns, connectTimeout)
		case <-ctx.Done():
			return l, page, ctx.Err()
		}
	}
	logf("%d connections: %d readers hold the event stream; wrk for %s while the commander posts every %s (run %s)",
		conns, o.viewers, o.duration, o.every, tag)

	// wrk, the sampler and the commander.
	rss := startRSS(h.PID)
	c0 := mt.snap()
	args := []string{"-t" + strconv.Itoa(o.threads), "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(o.duration.Seconds())) + "s", "--latency"}
	if o.gzip {
		args = append(args, "-H", "Accept-Encoding: gzip")
	}
	cmd := exec.CommandContext(ctx, "wrk", append(args, base+"/")...)
	outFile := filepath.Join(tmp, fmt.Sprintf("wrk-c%d.txt", conns))
	wrkDone := make(chan struct{})
	var wrkOut []byte
	var wrkErr error
	began := time.Now()
	go func() {
		defer close(wrkDone)
		wrkOut, wrkErr = cmd.CombinedOutput()
	}()
	postsDone := make(chan []post, 1)
	go func() {
		var posts []post
		defer func() { postsDone <- posts }()
		t := time.NewTicker(o.every)
		defer t.Stop()
		for n := 1; ; n++ {
			text := fmt.Sprintf("Load test %s update %d: we are still investigating failed card payments and will post again shortly.", tag, n)
			var p post
			p, page = cons.postUpdate(ctx, incident, page, text)
			p.n = n
			posts = append(posts, p)
			select {
			case <-wrkDone:
				return
			case <-t.C:
			}
			select { // the run is over: no post after it
			case <-wrkDone:
				return
			default:
			}
		}
	}()
	<-wrkDone
	l.wall = time.Since(began)
	c1 := mt.snap()
	l.posts = <-postsDone
	os.WriteFile(outFile, wrkOut, 0o644) //nolint:errcheck
	if wrkErr != nil {
		return l, page, fmt.Errorf("wrk -c%d: %v\n%s", conns, wrkErr, wrkOut)
	}
	w, err := benchkit.ParseWrk(string(wrkOut))
	if err != nil {
		return l, page, fmt.Errorf("wrk -c%d: %w", conns, err)
	}
	l.wrk = w
	var wrkCPU time.Duration
	if ps := cmd.ProcessState; ps != nil {
		wrkCPU = ps.UserTime() + ps.SystemTime()
	}
	secs := l.wall.Seconds()
	l.heraldCores = (c1.herald - c0.herald).Seconds() / secs
	l.selfCores = (c1.self - c0.self).Seconds() / secs
	l.pgCores = (c1.pg - c0.pg).Seconds() / secs
	l.wrkCores = wrkCPU.Seconds() / secs
	l.otherCores = max(0, ((c1.machine-c0.machine)-(c1.herald-c0.herald)-(c1.self-c0.self)-(c1.pg-c0.pg)-wrkCPU).Seconds()/secs)

	// The readers get up to -grace after the last post to show it.
	var last *post
	for i := range l.posts {
		if l.posts[i].err == nil {
			last = &l.posts[i]
		}
	}
	if last != nil {
		until := last.resp.Add(o.grace)
		for time.Now().Before(until) && !allHave(viewers, last.n) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	stopViewers()
	vwg.Wait()
	l.maxRSSKB = rss.stop()
	l.hwmKB = benchkit.StatusKB(h.PID, "VmHWM")

	// Latencies, per reader and update.
	var bytes int64
	for _, v := range viewers {
		v.mu.Lock()
		seen := 0
		for _, p := range l.posts {
			if p.err != nil {
				continue
			}
			at, ok := v.shown[p.n]
			if !ok {
				l.missed++
				continue
			}
			seen++
			l.liveMS = append(l.liveMS, ms(at.Sub(p.sent)))
			if ev := v.eventAt[p.n]; !ev.IsZero() {
				l.eventMS = append(l.eventMS, ms(ev.Sub(p.resp)))
			}
		}
		l.shown = append(l.shown, seen)
		l.events += v.events
		l.fetches += v.fetches
		bytes += v.bytes
		l.fetchMS = append(l.fetchMS, v.fetchMS...)
		l.viewErrN += len(v.errs)
		for _, e := range v.errs {
			if len(l.viewErrs) < 5 {
				l.viewErrs = append(l.viewErrs, e)
			}
		}
		v.mu.Unlock()
	}
	if l.fetches > 0 {
		l.fragBytes = float64(bytes) / float64(l.fetches)
	}
	pe, _ := l.postErrs()
	logf("%d connections: %.0f req/s, p99 %.2f ms, wrk errors: %s; %d updates posted (%d failed); live p99 %.0f ms, %d missed; herald %.2f cores",
		conns, w.RPS, w.P99, w.ErrorText(), len(l.posts), pe, benchkit.Percentile(l.liveMS, 99), l.missed, l.heraldCores)
	return l, page, nil
}

func allHave(vs []*viewer, n int) bool {
	for _, v := range vs {
		if !v.has(n) {
			return false
		}
	}
	return true
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// rssSampler keeps herald's largest VmRSS, read every rssEvery.
type rssSampler struct {
	quit chan struct{}
	done chan int64
}

func startRSS(pid int) *rssSampler {
	s := &rssSampler{quit: make(chan struct{}), done: make(chan int64, 1)}
	go func() {
		largest := benchkit.StatusKB(pid, "VmRSS")
		t := time.NewTicker(rssEvery)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				s.done <- max(largest, benchkit.StatusKB(pid, "VmRSS"))
				return
			case <-t.C:
				largest = max(largest, benchkit.StatusKB(pid, "VmRSS"))
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() int64 {
	close(s.quit)
	return <-s.done
}
