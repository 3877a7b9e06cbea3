package benchkit

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Wrk is what one `wrk --latency` run printed.
type Wrk struct {
	RPS                float64 // Requests/sec
	P50, P75, P90, P99 float64 // latency percentiles, ms (--latency)
	MaxMS              float64 // the largest latency, ms
	Requests           int     // completed requests
	BytesPerReq        float64 // bytes read (headers and body) per request
	Non2xx             int     // "Non-2xx or 3xx responses"
	// Socket errors, by kind. wrk leaves a request that took longer than
	// its --timeout out of the latency figures and counts it here.
	Connect, Read, Write, Timeout int
}

// Errors is every failed request wrk counted: non-2xx/3xx responses and
// socket errors of every kind.
func (w Wrk) Errors() int { return w.Non2xx + w.Connect + w.Read + w.Write + w.Timeout }

// ErrorText says which errors there were ("none" when none).
func (w Wrk) ErrorText() string {
	if w.Errors() == 0 {
		return "none"
	}
	return fmt.Sprintf("non-2xx/3xx %d; socket errors: connect %d, read %d, write %d, timeout %d",
		w.Non2xx, w.Connect, w.Read, w.Write, w.Timeout)
}

var (
	reRPS    = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	reDist   = regexp.MustCompile(`(?m)^\s+(50|75|90|99)%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	reLatRow = regexp.MustCompile(`(?m)^\s+Latency\s+([0-9.]+)(us|ms|s|m)\s+([0-9.]+)(us|ms|s|m)\s+([0-9.]+)(us|ms|s|m)`)
	reReqs   = regexp.MustCompile(`(?m)^\s+(\d+) requests in [^,]+, ([0-9.]+)([KMGT]?B) read`)
	reNon2xx = regexp.MustCompile(`(?m)Non-2xx or 3xx responses:\s+(\d+)`)
	reSock   = regexp.MustCompile(`(?m)^\s+Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// ms converts a wrk duration (value and unit) to milliseconds.
func ms(v, unit string) float64 {
	f, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "us":
		return f / 1000
	case "s":
		return f * 1000
	case "m":
		return f * 60000
	}
	return f
}

// ParseWrk reads wrk's output. It fails when the output has no
// Requests/sec or no completed request (wrk could not run).
func ParseWrk(out string) (Wrk, error) {
	var w Wrk
	m := reRPS.FindStringSubmatch(out)
	if m == nil {
		return w, fmt.Errorf("wrk: no Requests/sec in its output:\n%s", out)
	}
	w.RPS, _ = strconv.ParseFloat(m[1], 64)
	for _, l := range reDist.FindAllStringSubmatch(out, -1) {
		v := ms(l[2], l[3])
		switch l[1] {
		case "50":
			w.P50 = v
		case "75":
			w.P75 = v
		case "90":
			w.P90 = v
		case "99":
			w.P99 = v
		}
	}
	if m := reLatRow.FindStringSubmatch(out); m != nil {
		w.MaxMS = ms(m[5], m[6])
	}
	if m := reReqs.FindStringSubmatch(out); m != nil {
		w.Requests, _ = strconv.Atoi(m[1])
		v, _ := strconv.ParseFloat(m[2], 64)
		v *= map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[m[3]]
		if w.Requests > 0 {
			w.BytesPerReq = v / float64(w.Requests)
		}
	}
	if w.Requests == 0 {
		return w, fmt.Errorf("wrk: no request completed:\n%s", out)
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		w.Non2xx, _ = strconv.Atoi(m[1])
	}
	if m := reSock.FindStringSubmatch(out); m != nil {
		w.Connect, _ = strconv.Atoi(m[1])
		w.Read, _ = strconv.Atoi(m[2])
		w.Write, _ = strconv.Atoi(m[3])
		w.Timeout, _ = strconv.Atoi(m[4])
	} else if strings.Contains(out, "Socket errors:") {
		return w, fmt.Errorf("wrk: unreadable socket errors line in:\n%s", out)
	}
	return w, nil
}
