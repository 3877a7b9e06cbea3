package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strings"

	"github.com/kredete/herald/scripts/internal/benchkit"
)

func pass(ok bool) string {
	if ok {
		return "PASS"
	}
	return "**FAIL**"
}

// dist is p50 / p99 / max of v in ms.
func dist(v []float64) string {
	if len(v) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f / %.0f / %.0f ms", benchkit.Percentile(v, 50), benchkit.Percentile(v, 99), benchkit.Percentile(v, 100))
}

func (r *result) markdown() (string, bool) {
	o := r.o
	var b strings.Builder
	commit := "unknown"
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "status", "--porcelain").Output(); err == nil && len(out) > 0 {
		commit += " (working tree has uncommitted changes)"
	}
	fmt.Fprintf(&b, "# Load: the public page under wrk while the console posts every %s, %s, %s\n\n", o.every, r.db,
		r.started.UTC().Format("2006-01-02 15:04 UTC"))
	data := "a fresh database"
	if o.demo {
		data = "`herald demo-data` (5 components, 90 days of history, 3 active incidents of 20 updates)"
	}
	fmt.Fprintf(&b, "commit %s; %s; %d CPUs; herald a separate process%s on %s plus the load test's incident; "+
		"`wrk -t%d -cN -d%s --latency%s` on GET /; %d readers holding /events, each fetching the page's fragment on every event "+
		"as htmx does; one commander posting a public update through the console's composer every %s (session cookie, "+
		"same-origin headers, each 303 followed). wrk, herald, the readers and the commander share the machine. "+
		"Load average %s at the start, %s at the end.\n\n",
		commit, runtime.Version(), runtime.NumCPU(), envNote(o.env), data, o.threads, o.duration, gzipNote(o.gzip), o.viewers, o.every, r.load0, r.load1)

	b.WriteString("| connections | req/s | p50 | p90 | p99 | errors | updates posted | each reader saw | missed | live update p50 / p99 / max | herald CPU | herald max RSS |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	allOK := true
	var checks []string
	for _, l := range r.levels {
		saw := "n/a"
		if len(l.shown) > 0 {
			lo, hi := slices.Min(l.shown), slices.Max(l.shown)
			saw = fmt.Sprint(lo)
			if lo != hi {
				saw = fmt.Sprintf("%d–%d", lo, hi)
			}
		}
		pe, _ := l.postErrs()
		fmt.Fprintf(&b, "| %d | %.0f | %.2f ms | %.2f ms | %.2f ms | %d | %d | %s | %d | %s | %.2f cores | %.1f MiB |\n",
			l.conns, l.wrk.RPS, l.wrk.P50, l.wrk.P90, l.wrk.P99, l.errors(), len(l.posts)-pe, saw, l.missed, dist(l.liveMS),
			l.heraldCores, benchkit.MiB(l.maxRSSKB))
		p99 := benchkit.Percentile(l.liveMS, 99)
		errOK, missOK := l.errors() == 0, l.missed == 0 && len(l.liveMS) > 0
		liveOK := len(l.liveMS) > 0 && p99 <= float64(o.maxLive.Milliseconds())
		allOK = allOK && errOK && missOK && liveOK
		checks = append(checks,
			fmt.Sprintf("| %d connections: failed requests (wrk, console, readers) | %d | 0 | %s |", l.conns, l.errors(), pass(errOK)),
			fmt.Sprintf("| %d connections: updates a reader missed | %d of %d | 0 | %s |", l.conns, l.missed, (len(l.posts)-pe)*l.viewers, pass(missOK)),
			fmt.Sprintf("| %d connections: live update p99 (POST sent → fragment with it) | %.0f ms | ≤ %d ms | %s |", l.conns, p99,
				o.maxLive.Milliseconds(), pass(liveOK)))
	}
	b.WriteString("\n| check | measured | limit | result |\n|---|---:|---:|---|\n")
	b.WriteString(strings.Join(checks, "\n") + "\n")
	fmt.Fprintf(&b, "\nOverall: **%s**\n\n", strings.Trim(pass(allOK), "*"))

	b.WriteString("*Live update*: for each reader and update, from the commander's POST being sent to the reader having the " +
		"page fragment that shows it (event received, fragment fetched). *Event*: from the POST's 303 to the event that led to that " +
		"fetch; Herald announces a write before it answers, so it is often below zero.\n\n")
	b.WriteString("| connections | wrk errors | wrk max | event p50 / p99 / max | fragment fetch p50 / p99 / max | events, fetches (all readers) | fragment | console POST p50 / p99 / max | page after the 303 p50 / p99 | 409s resubmitted |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range r.levels {
		var postMS, reloadMS []float64
		stale := 0
		for _, p := range l.posts {
			if p.err == nil {
				postMS = append(postMS, ms(p.resp.Sub(p.sent)))
				reloadMS = append(reloadMS, ms(p.reload))
			}
			stale += p.stale
		}
		fmt.Fprintf(&b, "| %d | %s | %.0f ms | %s | %s | %d, %d | %.1f KB | %s | %.0f / %.0f ms | %d |\n",
			l.conns, l.wrk.ErrorText(), l.wrk.MaxMS, dist(l.eventMS), dist(l.fetchMS), l.events, l.fetches, l.fragBytes/1024,
			dist(postMS), benchkit.Percentile(reloadMS, 50), benchkit.Percentile(reloadMS, 99), stale)
	}

	b.WriteString("\nCPU in cores over each wrk run (*this process*: the readers and the commander; *rest*: everything else on the machine):\n\n")
	b.WriteString("| connections | wrk run | herald | postgres | wrk | this process | rest | herald µs/request | herald VmHWM after |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range r.levels {
		pg := "—"
		if o.postgres {
			pg = fmt.Sprintf("%.2f", l.pgCores)
		}
		fmt.Fprintf(&b, "| %d | %.1f s | %.2f | %s | %.2f | %.2f | %.2f | %.1f | %.1f MiB |\n", l.conns, l.wall.Seconds(),
			l.heraldCores, pg, l.wrkCores, l.selfCores, l.otherCores, 1e6*l.heraldCores/l.wrk.RPS, benchkit.MiB(l.hwmKB))
	}
	fmt.Fprintf(&b, "\n- Herald ready in %s; the commander signed in in %s. Herald %.1f MiB resident idle before the runs, "+
		"VmHWM %.1f MiB at the end (its whole life).\n", r.readyIn.Round(1e6), r.signIn.Round(1e6), benchkit.MiB(r.idleRSSKB), benchkit.MiB(r.hwmKB))
	for _, l := range r.levels {
		if n, first := l.postErrs(); n > 0 {
			fmt.Fprintf(&b, "- %d connections: %d posts failed; the first: `%s`\n", l.conns, n, strings.ReplaceAll(first, "`", "'"))
		}
		if l.viewErrN > 0 {
			fmt.Fprintf(&b, "- %d connections: the readers' %d failures; the first few:\n", l.conns, l.viewErrN)
			for _, e := range l.viewErrs {
				fmt.Fprintf(&b, "  - `%s`\n", strings.ReplaceAll(e, "`", "'"))
			}
		}
	}
	fmt.Fprintf(&b, "- Herald logged %d WARN/ERROR lines.\n", r.logErrN)
	for _, l := range r.logErr {
		fmt.Fprintf(&b, "  - `%s`\n", strings.ReplaceAll(l, "`", "'"))
	}
	return b.String(), allOK
}

func envNote(env []string) string {
	if len(env) == 0 {
		return ""
	}
	return " (" + strings.Join(env, ", ") + ")"
}

func gzipNote(on bool) string {
	if on {
		return " -H 'Accept-Encoding: gzip'"
	}
	return ""
}
