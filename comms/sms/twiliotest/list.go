package twiliotest

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Twilio's page sizes.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// list answers GET /2010-04-01/Accounts/{AccountSid}/Messages.json as
// Twilio does: the account's messages, newest first, filtered by To, From
// and DateSent (DateSent= that day; DateSent< on or before, DateSent> on
// or after; each a day YYYY-MM-DD, GMT, or a time in RFC 3339; a message
// not sent yet has no date_sent and matches no DateSent filter), a page at
// a time (PageSize, 50 by default and at most 1000; Page and PageToken),
// with Twilio's list fields (messages, page, page_size, start, end, uri,
// first_page_uri, next_page_uri, previous_page_uri).
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	if r.PathValue("account") != s.accountSID {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	q := r.URL.Query()
	filter := url.Values{}
	var keep []func(Message) bool
	if to := q.Get("To"); to != "" {
		filter.Set("To", to)
		keep = append(keep, func(m Message) bool { return m.To == to })
	}
	if from := q.Get("From"); from != "" {
		filter.Set("From", from)
		keep = append(keep, func(m Message) bool { return m.From == from })
	}
	for _, op := range []string{"", "<", ">"} {
		v := q.Get("DateSent" + op)
		if v == "" {
			continue
		}
		match, ok := dateFilter(op, v)
		if !ok {
			writeError(w, http.StatusBadRequest, 20001, "Invalid value for DateSent"+op+": "+v)
			return
		}
		filter.Set("DateSent"+op, v)
		keep = append(keep, func(m Message) bool { return !m.DateSent.IsZero() && match(m.DateSent) })
	}
	size := defaultPageSize
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, 20001, "Invalid value for PageSize: "+v)
			return
		}
		size = min(n, maxPageSize)
	}
	page := 0
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, 20001, "Invalid value for Page: "+v)
			return
		}
		page = n
	}

	s.mu.Lock()
	var all []Message
	for i := len(s.messages) - 1; i >= 0; i-- { // newest first; ties in arrival order
		m := s.messages[i]
		if m.AccountSID == s.accountSID && !slices.ContainsFunc(keep, func(f func(Message) bool) bool { return !f(m) }) {
			all = append(all, m)
		}
	}
	s.mu.Unlock()
	slices.SortStableFunc(all, func(a, b Message) int { return b.DateCreated.Compare(a.DateCreated) })

	start := page * size
	if tok := q.Get("PageToken"); tok != "" {
		// PA followed by the SID of the last message of the page before.
		sid, ok := strings.CutPrefix(tok, "PA")
		i := slices.IndexFunc(all, func(m Message) bool { return m.SID == sid })
		if !ok || i < 0 {
			writeError(w, http.StatusBadRequest, 20001, "Invalid PageToken: "+tok)
			return
		}
		start = i + 1
	}
	start = min(start, len(all))
	end := min(start+size, len(all))

	base := "/2010-04-01/Accounts/" + s.accountSID + "/Messages.json"
	uri := func(page int, token string) string {
		v := url.Values{}
		for k, vs := range filter {
			v[k] = vs
		}
		v.Set("PageSize", strconv.Itoa(size))
		v.Set("Page", strconv.Itoa(page))
		if token != "" {
			v.Set("PageToken", token)
		}
		return base + "?" + v.Encode()
	}
	msgs := make([]map[string]any, 0, end-start)
	for _, m := range all[start:end] {
		msgs = append(msgs, resource(m))
	}
	var next, prev any
	if end < len(all) {
		next = uri(page+1, "PA"+all[end-1].SID)
	}
	if page > 0 {
		prev = uri(page-1, "")
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"messages":          msgs,
		"page":              page,
		"page_size":         size,
		"start":             start,
		"end":               start + max(len(msgs)-1, 0),
		"uri":               uri(page, q.Get("PageToken")),
		"first_page_uri":    uri(0, ""),
		"next_page_uri":     next,
		"previous_page_uri": prev,
	})
}

// dateFilter reads one DateSent filter: a day (the whole day, GMT) or a
// time. op is "" (that day, or that instant), "<" (on or before) or ">" (on
// or after).
func dateFilter(op, v string) (func(time.Time) bool, bool) {
	if day, err := time.Parse(time.DateOnly, v); err == nil {
		next := day.AddDate(0, 0, 1)
		switch op {
		case "<":
			return func(t time.Time) bool { return t.Before(next) }, true
		case ">":
			return func(t time.Time) bool { return !t.Before(day) }, true
		}
		return func(t time.Time) bool { return !t.Before(day) && t.Before(next) }, true
	}
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, false
	}
	switch op {
	case "<":
		return func(t time.Time) bool { return !t.After(at) }, true
	case ">":
		return func(t time.Time) bool { return !t.Before(at) }, true
	}
	return func(t time.Time) bool { return t.Equal(at) }, true
}
