package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/kredete/herald"
)

// httpError is an error with the status and message a client should see.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func notFound(msg string) error   { return &httpError{http.StatusNotFound, msg} }
func badRequest(msg string) error { return &httpError{http.StatusBadRequest, msg} }

// statusOf maps an error to an HTTP status: the one place that does.
func statusOf(err error) (int, string) {
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he.status, he.msg
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "the request body is larger than the limit of " + itoa64(mbe.Limit) + " bytes"
	case errors.Is(err, herald.ErrNotFound):
		return http.StatusNotFound, trimPrefix(err)
	case errors.Is(err, herald.ErrForbidden):
		return http.StatusForbidden, trimPrefix(err)
	case errors.Is(err, herald.ErrInvalid):
		return http.StatusUnprocessableEntity, trimPrefix(err)
	case errors.Is(err, herald.ErrInvalidTransition), errors.Is(err, herald.ErrClosed), errors.Is(err, herald.ErrConflict):
		return http.StatusConflict, trimPrefix(err)
	}
	return http.StatusInternalServerError, "something went wrong on our side; it has been logged"
}

// trimPrefix drops the "store: " style prefixes meant for logs.
func trimPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "store: ")
}

// errorFields lists field problems for a JSON error body.
func errorFields(err error) map[string]string {
	var ves herald.ValidationErrors
	if errors.As(err, &ves) {
		return ves.Fields()
	}
	var ve *herald.ValidationError
	if errors.As(err, &ve) {
		return map[string]string{ve.Field: ve.Problem}
	}
	return nil
}

// handlerFunc is a handler that returns its error for one adapter to map.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// htmlErrors adapts a page handler: errors become the 404 page or a plain
// message with the right status; 5xx are logged once.
func (s *Server) htmlErrors(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		status, msg := statusOf(err)
		if status >= 500 && s.unreachable(r.Context(), err) {
			w.Header().Set("Retry-After", "10")
			http.Error(w, databaseMessage(r), http.StatusServiceUnavailable)
			return
		}
		if status >= 500 {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err, "request_id", requestID(r.Context()))
		}
		if status == http.StatusNotFound {
			s.public.NotFoundPage(w, r, msg)
			return
		}
		http.Error(w, msg, status)
	}
}

// jsonErrors adapts an API handler: errors become {"error": {...}}.
func (s *Server) jsonErrors(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		status, msg := statusOf(err)
		if status >= 500 && s.unreachable(r.Context(), err) {
			w.Header().Set("Retry-After", "10")
			writeJSONError(w, http.StatusServiceUnavailable, databaseMessage(r), nil)
			return
		}
		if status >= 500 {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err, "request_id", requestID(r.Context()))
		}
		writeJSONError(w, status, msg, errorFields(err))
	}
}

// databaseMessage says a request could not be served for want of the
// database: a write was not saved, a read could not be made.
func databaseMessage(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return "Herald cannot reach its database, so this cannot be shown now; try again in a few minutes. The status page still shows the last status."
	}
	return "Herald cannot reach its database, so nothing was saved; try again in a few minutes. The status page still shows the last status."
}

func writeJSONError(w http.ResponseWriter, status int, msg string, fields map[string]string) {
	body := map[string]any{"error": map[string]any{"status": status, "message": msg}}
	if len(fields) > 0 {
		body["error"].(map[string]any)["fields"] = fields
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) //nolint:errcheck // the client went away
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
