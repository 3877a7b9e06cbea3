package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
)

// SubscriberAdminStore is what the console's Subscribers page reads and
// writes.
type SubscriberAdminStore interface {
	CountSubscribers(ctx context.Context) (herald.SubscriberCounts, error)
	ListSubscribers(ctx context.Context, f herald.SubscriberFilter, afterID string, limit int) ([]herald.Subscriber, error)
	RemoveSubscriber(ctx context.Context, id, actor string) error
	ImportSubscribers(ctx context.Context, rows []herald.CSVSubscriber, actor string) (herald.SubscriberImport, error)
	ExportSubscribers(ctx context.Context, fn func(herald.CSVSubscriber) error) error
}

const (
	// MaxImportBytes caps a subscriber CSV upload: 100,000 lines of
	// ordinary addresses fit several times over.
	MaxImportBytes = 20 << 20
	// subscribersPageSize is how many subscribers the list shows a page.
	subscribersPageSize = 50
)

// subscribersPage is GET /console/subscribers: counts, filter, one page.
func (s *Server) subscribersPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	form := components.SubscriberFilterForm{Query: strings.TrimSpace(q.Get("q")), Channel: q.Get("channel"),
		State: q.Get("state"), Component: q.Get("component")}
	return s.renderSubscribers(w, r, http.StatusOK, form, q.Get("after"), nil, nil)
}

// renderSubscribers shows the page for the filter as typed; a filter field
// that names nothing known is reported next to it with 422.
func (s *Server) renderSubscribers(w http.ResponseWriter, r *http.Request, status int, form components.SubscriberFilterForm,
	after string, errs map[string]string, report *components.ImportReport) error {
	ctx := r.Context()
	comps, err := s.console.Components(ctx)
	if err != nil {
		return err
	}
	if errs == nil {
		errs = map[string]string{}
	}
	f := herald.SubscriberFilter{Query: form.Query, Channel: herald.SubscriberChannel(form.Channel),
		State: herald.SubscriberState(form.State), ComponentID: form.Component}
	if len([]rune(form.Query)) > 200 {
		errs["q"] = "search for at most 200 characters"
	}
	if form.Channel != "" && !containsChannel(form.Channel) {
		errs["channel"] = "choose email, sms or webhook"
	}
	if form.State != "" && !containsState(form.State) {
		errs["state"] = "choose confirmed, pending, unsubscribed or disabled"
	}
	names := make(map[string]string, len(comps))
	for _, c := range comps {
		names[c.ID] = c.Name
	}
	if _, ok := names[form.Component]; form.Component != "" && !ok {
		errs["component"] = "there is no such component"
	}
	counts, err := s.console.CountSubscribers(ctx)
	if err != nil {
		return err
	}
	v := components.SubscribersView{Counts: counts, Components: comps, Filter: form, Errors: errs, Report: report,
		Paged: after != ""}
	filterOK := !hasAny(errs, "q", "channel", "state", "component")
	if filterOK {
		list, err := s.console.ListSubscribers(ctx, f, after, subscribersPageSize+1)
		if err != nil {
			return err
		}
		if len(list) > subscribersPageSize {
			list = list[:subscribersPageSize]
			v.NextAfter = list[len(list)-1].ID
		}
		for _, sub := range list {
			v.Rows = append(v.Rows, s.subscriberRow(sub, names))
		}
	} else if status == http.StatusOK {
		status = http.StatusUnprocessableEntity
	}
	// The frame pops the flash, saved with the session when the header is
	// written: build it first.
	v.Console = s.consoleFrame(r, "Subscribers", "subscribers")
	w.WriteHeader(status)
	s.render(w, r, components.Subscribers(v))
	return nil
}

func (s *Server) subscriberRow(sub herald.Subscriber, names map[string]string) components.SubscriberRow {
	row := components.SubscriberRow{ID: sub.ID, Address: herald.DisplayAddress(sub.Channel, sub.Address), Channel: sub.Channel,
		State: sub.State, Source: sub.Source, Created: sub.CreatedAt.In(s.loc).Format("2 Jan 2006 15:04")}
	if sub.ConfirmedAt != nil {
		row.Confirmed = sub.ConfirmedAt.In(s.loc).Format("2 Jan 2006 15:04")
	}
	if sub.AllComponents {
		row.Components = "All components"
	} else {
		var ns []string
		for _, id := range sub.ComponentIDs {
			if n, ok := names[id]; ok {
				ns = append(ns, n)
			}
		}
		row.Components = strings.Join(ns, ", ")
	}
	return row
}

func containsChannel(v string) bool {
	for _, c := range herald.SubscriberChannels {
		if string(c) == v {
			return true
		}
	}
	return false
}

func containsState(v string) bool {
	for _, st := range herald.SubscriberStates {
		if string(st) == v {
			return true
		}
	}
	return false
}

func hasAny(errs map[string]string, fields ...string) bool {
	for _, f := range fields {
		if _, ok := errs[f]; ok {
			return true
		}
	}
	return false
}

// removeSubscriber is POST /console/subscribers/{id}/remove. The form's
// box must be ticked: without it the page comes back (422) with the
// problem next to the box, so a stray click removes nobody.
func (s *Server) removeSubscriber(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := r.PathValue("id")
	if r.PostFormValue("confirm") != "yes" {
		return s.renderSubscribers(w, r, http.StatusUnprocessableEntity, components.SubscriberFilterForm{}, "",
			map[string]string{"confirm-" + id: "tick the box to confirm the removal"}, nil)
	}
	if err := s.console.RemoveSubscriber(r.Context(), id, actorName(currentUser(r.Context()))); err != nil {
		if errors.Is(err, herald.ErrNotFound) {
			return notFound("there is no such subscriber; it may have been removed already")
		}
		return err
	}
	s.flash(r, "Subscriber removed. The audit log keeps who removed it and when, not the address.")
	http.Redirect(w, r, "/console/subscribers", http.StatusSeeOther)
	return nil
}

// exportSubscribers is GET /console/subscribers/export.csv: every confirmed
// subscriber, streamed as the store pages through them.
func (s *Server) exportSubscribers(w http.ResponseWriter, r *http.Request) error {
	cw := &countingWriter{w: w}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="subscribers-`+s.now().In(s.loc).Format("2006-01-02")+`.csv"`)
	h.Set("Cache-Control", "no-store")
	sw := herald.NewSubscriberCSVWriter(cw)
	err := s.console.ExportSubscribers(r.Context(), sw.Write)
	if err == nil {
		err = sw.Flush()
	}
	if err != nil {
		if cw.n == 0 {
			h.Del("Content-Disposition")
			return err
		}
		// Part of the file is out: end the response abruptly so the
		// download fails rather than look complete.
		s.log.Error("export subscribers", "error", err, "request_id", requestID(r.Context()))
		panic(http.ErrAbortHandler)
	}
	return nil
}

// countingWriter counts what has been written to the client.
type countingWriter struct {
	w http.ResponseWriter
	n int
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += n
	return n, err
}

// importSubscribers is POST /console/subscribers/import: a multipart
// upload of a CSV file, read as it arrives, each line checked (the file's
// rules, then that it is not a webhook, then whether the address is
// already subscribed) and the report shown.
func (s *Server) importSubscribers(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxImportBytes)
	fileErr := func(status int, msg string) error {
		return s.renderSubscribers(w, r, status, components.SubscriberFilterForm{}, "", map[string]string{"file": msg}, nil)
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return fileErr(http.StatusUnprocessableEntity, "choose a CSV file to import")
	}
	ctx := r.Context()
	comps, err := s.console.Components(ctx)
	if err != nil {
		return err
	}
	known := make(map[string]bool, len(comps))
	for _, c := range comps {
		known[c.Key] = true
	}
	var rows []herald.CSVSubscriber
	var report herald.CSVReport
	found := false
	for {
		part, err := mr.NextPart()
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return fileErr(http.StatusRequestEntityTooLarge, "the file is larger than 20 MiB; split it")
			}
			if found {
				break
			}
			return fileErr(http.StatusUnprocessableEntity, "choose a CSV file to import")
		}
		if part.FormName() != "file" || found {
			continue
		}
		found = true
		if part.FileName() == "" {
			return fileErr(http.StatusUnprocessableEntity, "choose a CSV file to import")
		}
		rows, report, err = herald.ParseSubscriberCSV(part, known, 0)
		if err != nil {
			var mbe *http.MaxBytesError
			var fe *herald.CSVFileError
			switch {
			case errors.As(err, &mbe):
				return fileErr(http.StatusRequestEntityTooLarge, "the file is larger than 20 MiB; split it")
			case errors.As(err, &fe):
				return fileErr(http.StatusUnprocessableEntity, strings.TrimPrefix(fe.Error(), "subscriber csv: "))
			}
			return err
		}
	}

	// Webhooks are never imported: a webhook's signing secret reaches its
	// owner only in the mail of a sign-up on the status page, so an
	// imported one would sign with a secret nobody has. (The store refuses
	// them too; refused here, no URL is looked up.)
	var keep []herald.CSVSubscriber
	var index []int
	for i, row := range rows {
		if row.Channel == string(herald.SubscriberWebhook) {
			report.RefuseAccepted(rows, i, herald.ImportWebhookRefused)
			continue
		}
		keep = append(keep, row)
		index = append(index, i)
	}
	res, err := s.console.ImportSubscribers(ctx, keep, actorName(currentUser(ctx)))
	if err != nil {
		return err
	}
	for _, sk := range res.Skipped {
		report.RefuseAccepted(rows, index[sk.Index], sk.Reason)
	}
	if report.Channels == nil {
		report.Channels = map[string]int{}
	}
	s.log.Info("subscribers imported", "user_id", currentUser(ctx).ID, "rows", report.Rows, "imported", res.Imported,
		"refused", len(report.Refused), "request_id", requestID(ctx))
	return s.renderSubscribers(w, r, http.StatusOK, components.SubscriberFilterForm{}, "", nil,
		&components.ImportReport{Rows: report.Rows, Accepted: report.Accepted, Channels: report.Channels, Refused: report.Refused})
}
