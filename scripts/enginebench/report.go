package main

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/kredete/herald/scripts/internal/benchkit"
)

// Targets from issue 4.
const (
	maxIdleCPUPct = 2.0
	maxRSSMiB     = 80.0
	maxP99LateMS  = 1000.0
)

type report struct {
	started      time.Time
	load0, load1 string
	incidents    int
	idle         []idleResult
	late         []lateResult
}

func mib(kb int64) float64 { return float64(kb) / 1024 }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func (r report) markdown(o options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Cadence engine: %d open incidents, four clocks each\n\n", r.incidents)
	fmt.Fprintf(&b, "%s, %d cores (GOMAXPROCS), %s; load average %s at the start, %s at the end.\n\n",
		r.started.Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.Version(), r.load0, r.load1)
	if len(r.idle) > 0 {
		fmt.Fprintf(&b, "## Idle (nothing due for the window)\n\n")
		fmt.Fprintf(&b, "Default plan; %d incidents declared within the last minute, so the first step is 9 minutes away. "+
			"Window %s after %s of settling. CPU is the whole herald process (utime+stime).\n\n", r.incidents, o.idle, o.settle)
		b.WriteString("| Database | CPU (% of a core) | RSS peak / mean (MiB) | VmHWM since start (MiB) | Context switches/s | Engine wakes | DB commits/s | Rest of machine (cores) | Load avg before → after |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
		for _, x := range r.idle {
			commits := "n/a"
			if x.pgXacts >= 0 {
				commits = fmt.Sprintf("%.2f", float64(x.pgXacts)/x.use.wall.Seconds())
			}
			fmt.Fprintf(&b, "| %s | %.2f (%s) | %.1f / %.1f (%s) | %.1f | %.1f (%d threads) | %s | %s | %.2f | %s → %s |\n",
				x.dialect, x.use.cpuPct(), verdict(x.use.cpuPct() < maxIdleCPUPct),
				mib(x.use.peakRSSKB), mib(x.use.meanRSSKB), verdict(mib(x.use.peakRSSKB) < maxRSSMiB), mib(x.use.hwmKB),
				float64(x.use.ctxSwitches)/x.use.wall.Seconds(), x.use.threads, wakes(x.wakes), commits, x.use.others,
				x.use.loadBefore, x.use.loadAfter)
		}
		b.WriteString("\n")
		for _, x := range r.idle {
			fmt.Fprintf(&b, "%s: ready %s after start; the first Tick (at start) took %.1f ms", x.dialect,
				x.readyIn.Round(time.Millisecond), x.startTick)
			if len(x.tickMS) > 0 {
				fmt.Fprintf(&b, "; Ticks in the window: %d, max %.1f ms", len(x.tickMS), benchkit.Percentile(x.tickMS, 100))
			}
			b.WriteString(".\n")
			if len(x.debugLines) > 0 {
				fmt.Fprintf(&b, "Log lines in the window (debug): %s.\n", counts(x.debugLines))
			}
			if x.straceError != "" {
				fmt.Fprintf(&b, "strace: %s.\n", x.straceError)
			} else if len(x.strace) > 0 {
				var parts []string
				for i, c := range x.strace {
					if i == 10 {
						break
					}
					parts = append(parts, fmt.Sprintf("%s %.1f/s", c.name, float64(c.calls)/x.straceFor.Seconds()))
				}
				fmt.Fprintf(&b, "System calls (strace -c -f, %s after the window; strace slows the process): %s.\n", x.straceFor, strings.Join(parts, ", "))
			}
			b.WriteString("\n")
		}
	}
	if len(r.late) > 0 {
		fmt.Fprintf(&b, "## Lateness (many reminders due)\n\n")
		fmt.Fprintf(&b, "Plan: %s (public every %s, reminder %s before, escalation and repeats every %s; executives every %s, "+
			"reminder %s before, holding update at due). %d incidents declared evenly over %s; the steps due in a %s window "+
			"are matched with their log lines. Queued: due → the deliveries committed (late_ms). Sent: due → the vendor "+
			"accepted the delivery (sent_at), per delivery.\n\n",
			shortPlan.Name, dur(shortPlan.Public), dur(shortPlan.PublicBefore), dur(shortPlan.PublicEvery), dur(shortPlan.Executives),
			dur(shortPlan.ExecutivesBefore), r.incidents, o.spread, o.window)
		b.WriteString("| Database | Steps due (logged / missing / unexpected) | Queued late p50 / p99 / max (ms) | Sent late p50 / p99 / max (ms), deliveries | Engine wakes, Tick p50 / p99 / max (ms) | CPU (% of a core) | RSS peak (MiB) | Rest of machine (cores) | Load avg |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
		for _, x := range r.late {
			p99 := benchkit.Percentile(x.queuedLateMS, 99)
			fmt.Fprintf(&b, "| %s | %d (%d / %d / %d) | %.0f / **%.0f** / %.0f (%s) | %.0f / %.0f / %.0f, %d (%d not sent) | %s; %.1f / %.1f / %.1f | %.1f | %.1f | %.2f | %s → %s |\n",
				x.dialect, x.expected, x.logged, x.missing, x.extra,
				benchkit.Percentile(x.queuedLateMS, 50), p99, benchkit.Percentile(x.queuedLateMS, 100), verdict(p99 < maxP99LateMS && x.missing == 0),
				benchkit.Percentile(x.sentLateMS, 50), benchkit.Percentile(x.sentLateMS, 99), benchkit.Percentile(x.sentLateMS, 100), x.deliveries, x.notSent,
				wakes(x.wakes), benchkit.Percentile(x.tickMS, 50), benchkit.Percentile(x.tickMS, 99), benchkit.Percentile(x.tickMS, 100),
				x.use.cpuPct(), mib(x.use.peakRSSKB), x.use.others, x.use.loadBefore, x.use.loadAfter)
		}
		b.WriteString("\n")
		for _, x := range r.late {
			fmt.Fprintf(&b, "%s: steps by audience/kind: %s; seeding took %s.\n", x.dialect, counts(x.byKind), x.seedTook.Round(time.Second))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Targets (issue 4): idle engine under %.0f%% of a core, the process under %.0f MB resident, reminders late by under %.0f ms at p99.\n",
		maxIdleCPUPct, maxRSSMiB, maxP99LateMS)
	return b.String()
}

func wakes(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	return counts(m)
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
