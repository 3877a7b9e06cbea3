package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

type ctxKey int

const requestIDKey ctxKey = 1

// requestIDs hands out ids: a random prefix per process and a counter, so
// an id costs no system call on the hot path.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	b := make([]byte, 4)
	rand.Read(b) //nolint:errcheck // never fails
	return &requestIDs{prefix: hex.EncodeToString(b) + "-"}
}

func (ids *requestIDs) next() string {
	var b [32]byte // the prefix (9 bytes) and a base-36 uint64 (at most 13): one allocation, the string
	return string(strconv.AppendUint(append(b[:0], ids.prefix...), ids.n.Add(1), 36))
}

// requestID is the id observe gave the request, or "".
func requestID(ctx context.Context) string {
	if id, ok := ctx.Value(requestIDKey).(*string); ok {
		return *id
	}
	return ""
}

var (
	// Scripts, styles, fonts and connections (htmx, server-sent events) come
	// from this origin only: default-src 'self' says so for all of them, so
	// the policy does not repeat it per directive (every page response
	// carries these bytes; the directives that differ are listed).
	cspValue      = []string{"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"}
	nosniff       = []string{"nosniff"}
	frameDeny     = []string{"DENY"}
	referrer      = []string{"strict-origin-when-cross-origin"}
	permissions   = []string{"camera=(), microphone=(), geolocation=(), payment=()"}
	crossOriginOP = []string{"same-origin"}
)

// securityHeaders sets the headers every response carries. Values are
// allocated once; the status page is served tens of thousands of times a
// second during an outage.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Security-Policy"] = cspValue
		h["X-Content-Type-Options"] = nosniff
		h["X-Frame-Options"] = frameDeny
		h["Referrer-Policy"] = referrer
		h["Permissions-Policy"] = permissions
		h["Cross-Origin-Opener-Policy"] = crossOriginOP
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status for the access log. It also holds
// the request id, as the X-Request-Id header's value slice, so observe
// allocates the recorder, the header value and the context's value (a
// pointer to id[0], which an interface holds without an allocation) in one
// piece.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
	id     [1]string
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// Flush lets server-sent events through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe gives each request an id, recovers panics, logs the request
// (failures and writes at info, successful reads at debug: the public page
// is read far too often to log every hit by default) and counts it in
// metrics when set.
func observe(log *slog.Logger, ids *requestIDs, metrics RequestMetrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := r.Header.Get("X-Request-Id")
			if id == "" || len(id) > 64 {
				id = ids.next()
			}
			rec := &statusRecorder{ResponseWriter: w, id: [1]string{id}}
			w.Header()["X-Request-Id"] = rec.id[:]
			r = r.WithContext(context.WithValue(r.Context(), requestIDKey, &rec.id[0]))
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.Error("panic", "request_id", id, "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
					if rec.status == 0 {
						http.Error(rec, "something went wrong on our side; it has been logged", http.StatusInternalServerError)
					}
				}
				level := slog.LevelDebug
				if rec.status >= 400 || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
					level = slog.LevelInfo
				}
				took := time.Since(start)
				if log.Enabled(r.Context(), level) {
					log.LogAttrs(r.Context(), level, "request", slog.String("request_id", id), slog.String("method", r.Method),
						slog.String("path", r.URL.Path), slog.Int("status", rec.status), slog.Int("bytes", rec.bytes),
						slog.Duration("duration", took))
				}
				if metrics != nil {
					recordRequest(metrics, r, rec, took)
				}
			}()
			next.ServeHTTP(rec, r)
		})
	}
}
