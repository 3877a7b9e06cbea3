package handlers_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/kredete/herald"
	"github.com/kredete/herald/comms/webhook"
	"github.com/kredete/herald/store/storetest"
)

// multipartFile encodes fields and one file as a browser's multipart form.
func multipartFile(t testing.TB, fields url.Values, field, name string, content []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range fields {
		for _, v := range vs {
			if err := mw.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	fw, err := mw.CreateFormFile(field, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

// upload posts a CSV file to the import form.
func (b *browser) upload(content string) response {
	b.t.Helper()
	ct, body := multipartFile(b.t, nil, "file", "subscribers.csv", []byte(content))
	return b.do(http.MethodPost, "/console/subscribers/import", bytes.NewReader(body), "Content-Type", ct)
}

// forEachSubscriberConsole runs f on a console with the real SSRF check of
// comms/webhook, so that refusing webhook lines does not depend on it
// being absent; tests give it IP literals only, so no DNS is asked.
func forEachSubscriberConsole(t *testing.T, f func(t *testing.T, c *console)) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, newConsole(t, envOptions{dialect: d, urlChecker: webhook.New(webhook.Config{})}))
		})
	}
}

func (c *console) importRows(rows ...herald.CSVSubscriber) {
	c.t.Helper()
	if _, err := c.store.ImportSubscribers(context.Background(), rows, "test"); err != nil {
		c.t.Fatal(err)
	}
}

// signUpWebhook stores a confirmed webhook as the status page's sign-up
// does (an import refuses webhooks).
func (c *console) signUpWebhook(address, owner string) herald.Subscriber {
	c.t.Helper()
	res, err := c.store.Subscribe(context.Background(), herald.SubscriptionRequest{Channel: herald.SubscriberWebhook,
		Address: address, OwnerEmail: owner, AllComponents: true}, c.clock.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	sub, err := c.store.ConfirmSubscriber(context.Background(), res.Token)
	if err != nil {
		c.t.Fatal(err)
	}
	return sub
}

func listedAddresses(t testing.TB, doc *html.Node) []string {
	return texts(queryAll(t, doc, `[data-testid="subscriber-address"]`))
}

func TestConsoleSubscribersPage(t *testing.T) {
	forEachSubscriberConsole(t, func(t *testing.T, c *console) {
		comms := c.as(t, herald.RoleComms)
		doc := comms.page("/console/subscribers")
		if got := text(queryOne(t, doc, `[data-testid="no-subscribers"]`)); !strings.Contains(got, "No subscribers yet") {
			t.Errorf("empty state %q", got)
		}
		if queryOne(t, doc, `[data-testid="nav-subscribers"]`) == nil {
			t.Error("no Subscribers link in the navigation")
		}

		c.importRows(
			herald.CSVSubscriber{Channel: "email", Address: "alice@example.com"},
			herald.CSVSubscriber{Channel: "email", Address: "bob@corp.example", Components: []string{"api-platform"}},
			herald.CSVSubscriber{Channel: "sms", Address: "+27215550123", Components: []string{"customer-portal"}},
		)
		c.signUpWebhook("https://hooks.example.com/secret-path?token=abc", "o@example.com")
		if _, err := c.store.Subscribe(context.Background(), herald.SubscriptionRequest{Channel: herald.SubscriberEmail,
			Address: "pending@example.com", AllComponents: true}, c.clock.Now()); err != nil {
			t.Fatal(err)
		}
		r := comms.get("/console/subscribers")
		if r.Code != http.StatusOK {
			t.Fatalf("GET = %d", r.Code)
		}
		doc = parseHTML(t, r.Body)
		for sel, want := range map[string]string{
			`[data-testid="count-email-confirmed"]`: "2",
			`[data-testid="count-email-pending"]`:   "1",
			`[data-testid="count-email-total"]`:     "3",
			`[data-testid="count-sms-confirmed"]`:   "1",
			`[data-testid="count-webhook-total"]`:   "1",
			`[data-testid="count-total"]`:           "5",
		} {
			if got := text(queryOne(t, doc, sel)); got != want {
				t.Errorf("%s = %q, want %q", sel, got, want)
			}
		}
		got := listedAddresses(t, doc)
		if len(got) != 5 || !strings.Contains(strings.Join(got, " "), "hooks.example.com") {
			t.Errorf("listed %q", got)
		}
		if strings.Contains(string(r.Body), "secret-path") || strings.Contains(string(r.Body), "token=abc") {
			t.Error("the page shows a webhook's path or query; only its host may be shown")
		}

		filters := []struct {
			query string
			want  []string
		}{
			{"q=CORP", []string{"bob@corp.example"}},
			{"channel=sms", []string{"+27215550123"}},
			{"state=pending", []string{"pending@example.com"}},
			{"component=" + c.ids["api-platform"] + "&channel=email", []string{"alice@example.com", "bob@corp.example", "pending@example.com"}},
			{"channel=webhook", []string{"hooks.example.com"}},
		}
		for _, f := range filters {
			doc := comms.page("/console/subscribers?" + f.query)
			got := listedAddresses(t, doc)
			if d := gocmp.Diff(sortedStrings(f.want), sortedStrings(got)); d != "" {
				t.Errorf("%s (-want +got):\n%s", f.query, d)
			}
		}
		doc = comms.page("/console/subscribers?q=nobody")
		if got := text(queryOne(t, doc, `[data-testid="no-subscribers"]`)); !strings.Contains(got, "No subscriber matches") {
			t.Errorf("empty filter says %q", got)
		}
		r = comms.get("/console/subscribers?channel=fax")
		if r.Code != http.StatusUnprocessableEntity {
			t.Errorf("unknown channel: %d, want 422", r.Code)
		} else if got := text(queryOne(t, parseHTML(t, r.Body), `[data-testid="error-channel"]`)); got == "" {
			t.Error("no error next to the channel field")
		}

		// An admin may too; a commander may not.
		c.as(t, herald.RoleAdmin).page("/console/subscribers")
		for _, path := range []string{"/console/subscribers", "/console/subscribers/export.csv"} {
			if r := c.as(t, herald.RoleCommander).get(path); r.Code != http.StatusForbidden {
				t.Errorf("commander GET %s = %d, want 403", path, r.Code)
			}
		}
		if doc := c.as(t, herald.RoleCommander).page("/console"); len(queryAll(t, doc, `[data-testid="nav-subscribers"]`)) != 0 {
			t.Error("a commander sees the Subscribers link")
		}
	})
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func TestConsoleSubscribersPaging(t *testing.T) {
	forEachSubscriberConsole(t, func(t *testing.T, c *console) {
		var rows []herald.CSVSubscriber
		for i := range 120 {
			rows = append(rows, herald.CSVSubscriber{Channel: "email", Address: "p" + itoa3(i) + "@example.com"})
		}
		c.importRows(rows...)
		b := c.as(t, herald.RoleComms)
		seen := map[string]bool{}
		path, pages := "/console/subscribers", 0
		for path != "" {
			doc := b.page(path)
			pages++
			for _, a := range listedAddresses(t, doc) {
				if seen[a] {
					t.Errorf("%s on two pages", a)
				}
				seen[a] = true
			}
			path = ""
			if next := queryAll(t, doc, `[data-testid="next-page"]`); len(next) == 1 {
				path, _ = attr(next[0], "href")
			}
		}
		if pages != 3 || len(seen) != 120 {
			t.Errorf("%d pages, %d subscribers; want 3, 120", pages, len(seen))
		}
	})
}

func itoa3(i int) string {
	return string([]byte{byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
}

func TestConsoleSubscriberRemove(t *testing.T) {
	forEachSubscriberConsole(t, func(t *testing.T, c *console) {
		c.importRows(herald.CSVSubscriber{Channel: "email", Address: "leave@example.com"},
			herald.CSVSubscriber{Channel: "email", Address: "stay@example.com"})
		b := c.as(t, herald.RoleComms)
		doc := b.page("/console/subscribers?q=leave")
		row := queryOne(t, doc, `[data-testid="subscriber"]`)
		id, _ := attr(row, "data-id")
		form := queryOne(t, row, `form[data-testid="remove-subscriber"]`)
		action, _ := attr(form, "action")
		if action != "/console/subscribers/"+id+"/remove" {
			t.Fatalf("remove form posts to %q", action)
		}
		if queryOne(t, form, `input[name="confirm"][required]`) == nil {
			t.Error("the removal box is not required")
		}

		// Without the box: nothing removed, the problem next to the box.
		before := c.stored()
		r := b.post(action, url.Values{})
		if r.Code != http.StatusUnprocessableEntity {
			t.Fatalf("unconfirmed removal: %d, want 422", r.Code)
		}
		if got := text(queryOne(t, parseHTML(t, r.Body), `[data-testid="error-confirm-`+id+`"]`)); !strings.Contains(got, "tick the box") {
			t.Errorf("error %q", got)
		}
		c.wantNothingStored(before, "unconfirmed removal")

		r = b.post(action, url.Values{"confirm": {"yes"}})
		if r.Code != http.StatusSeeOther {
			t.Fatalf("removal: %d: %.300s", r.Code, r.Body)
		}
		doc = b.page("/console/subscribers")
		if got := listedAddresses(t, doc); !gocmp.Equal(got, []string{"stay@example.com"}) {
			t.Errorf("after removal %q", got)
		}
		if got := text(queryOne(t, doc, `[data-testid="flash"]`)); !strings.Contains(got, "removed") {
			t.Errorf("flash %q", got)
		}
		if r := b.post(action, url.Values{"confirm": {"yes"}}); r.Code != http.StatusNotFound {
			t.Errorf("second removal: %d, want 404", r.Code)
		}
		// A commander cannot remove.
		c.importRows(herald.CSVSubscriber{Channel: "email", Address: "again@example.com"})
		list, err := c.store.ListSubscribers(context.Background(), herald.SubscriberFilter{Query: "again@"}, "", 1)
		if err != nil || len(list) != 1 {
			t.Fatal(list, err)
		}
		if r := c.as(t, herald.RoleCommander).post("/console/subscribers/"+list[0].ID+"/remove", url.Values{"confirm": {"yes"}}); r.Code != http.StatusForbidden {
			t.Errorf("commander removal: %d, want 403", r.Code)
		}
	})
}

func TestConsoleSubscriberImport(t *testing.T) {
	forEachSubscriberConsole(t, func(t *testing.T, c *console) {
		c.importRows(herald.CSVSubscriber{Channel: "email", Address: "known@example.com"})
		b := c.as(t, herald.RoleComms)
		file := strings.Join([]string{
			"channel,address,components,owner_email",                   // 1
			"email,new@example.com,all,",                               // 2
			"email,not-an-address,,",                                   // 3
			"sms,+27 21 555 0123,api-platform,",                        // 4
			"email,known@example.com,,",                                // 5
			"webhook,https://127.0.0.1/hook,,dev@example.com",          // 6: loopback
			"webhook,https://10.1.2.3:8443/hook,all,dev@example.com",   // 7: private
			"webhook,http://93.184.215.14/status,,dev@example.com",     // 8: not https: the file's own reason
			"webhook,https://93.184.215.14/status,all,dev@example.com", // 9: public, still refused
			"email,new@example.com,,",                                  // 10: duplicate of 2
			"email,other@example.com,billing,",                         // 11
		}, "\n") + "\n"
		r := b.upload(file)
		if r.Code != http.StatusOK {
			t.Fatalf("import: %d: %.500s", r.Code, r.Body)
		}
		doc := parseHTML(t, r.Body)
		summary := text(queryOne(t, doc, `[data-testid="import-summary"]`))
		if !strings.Contains(summary, "2 of 10 lines imported") || !strings.Contains(summary, "(1 email, 1 SMS)") || !strings.Contains(summary, "8 refused") {
			t.Errorf("summary %q", summary)
		}
		type refusal struct{ Line, Address, Reason string }
		var got []refusal
		for _, tr := range queryAll(t, doc, `[data-testid="refused-line"]`) {
			got = append(got, refusal{text(queryOne(t, tr, `[data-testid="refused-line-number"]`)),
				text(queryOne(t, tr, `[data-testid="refused-address"]`)), text(queryOne(t, tr, `[data-testid="refused-reason"]`))})
		}
		wantLines := []string{"3", "5", "6", "7", "8", "9", "10", "11"}
		if len(got) != len(wantLines) {
			t.Fatalf("refused %+v", got)
		}
		for i, g := range got {
			if g.Line != wantLines[i] {
				t.Errorf("refusal %d is line %s, want %s", i, g.Line, wantLines[i])
			}
		}
		reasons := map[string]string{}
		for _, g := range got {
			reasons[g.Line] = g.Reason
		}
		// Webhooks are refused, whatever their URL: their signing secret
		// would reach nobody.
		for line, want := range map[string]string{"3": "not an email address", "5": "already subscribed", "6": herald.ImportWebhookRefused,
			"7": herald.ImportWebhookRefused, "8": "webhook URL must use https", "9": herald.ImportWebhookRefused,
			"10": "duplicate of line 2", "11": `unknown component "billing"`} {
			if !strings.Contains(reasons[line], want) {
				t.Errorf("line %s: reason %q, want it to say %q", line, reasons[line], want)
			}
		}
		if got[2].Address != "https://127.0.0.1/hook" {
			t.Errorf("line 6 address %q", got[2].Address)
		}

		// Only the good lines are stored; the known one is unchanged.
		list, err := c.store.ListSubscribers(context.Background(), herald.SubscriberFilter{}, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var stored []string
		for _, s := range list {
			stored = append(stored, s.Address)
			if s.State != herald.SubscriberConfirmed || s.Source != herald.SourceImport {
				t.Errorf("stored %+v", s)
			}
		}
		if d := gocmp.Diff(sortedStrings([]string{"known@example.com", "new@example.com", "+27215550123"}), sortedStrings(stored)); d != "" {
			t.Errorf("stored (-want +got):\n%s", d)
		}

		// A file that is not a subscriber file: 422 next to the field,
		// nothing stored.
		before := c.stored()
		for _, bad := range []string{"", "name,email\nAda,ada@example.com\n"} {
			r := b.upload(bad)
			if r.Code != http.StatusUnprocessableEntity {
				t.Errorf("bad file %q: %d, want 422", bad, r.Code)
				continue
			}
			if got := text(queryOne(t, parseHTML(t, r.Body), `[data-testid="error-file"]`)); got == "" {
				t.Errorf("bad file %q: no error next to the field", bad)
			}
		}
		// No file at all.
		if r := b.post("/console/subscribers/import", url.Values{}); r.Code != http.StatusUnprocessableEntity {
			t.Errorf("no file: %d, want 422", r.Code)
		}
		c.wantNothingStored(before, "bad files")
		// Too large: 413.
		big := "channel,address\n" + strings.Repeat("email,"+strings.Repeat("a", 280)+"@example.com\n", 21<<20/299)
		if r := b.upload(big); r.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("21 MiB: %d, want 413", r.Code)
		}
		c.wantNothingStored(before, "too large a file")
		// A commander cannot import.
		if r := c.as(t, herald.RoleCommander).upload("channel,address\nemail,cmdr@example.com\n"); r.Code != http.StatusForbidden {
			t.Errorf("commander import: %d, want 403", r.Code)
		}
	})
}

func TestConsoleSubscriberExport(t *testing.T) {
	forEachSubscriberConsole(t, func(t *testing.T, c *console) {
		b := c.as(t, herald.RoleComms)
		in := "channel,address,components,owner_email\n" +
			"email,a@example.com,all,\n" +
			"email,'=cmd@example.com,api-platform;customer-portal,\n" +
			"sms,+27215550123,credit-origination,\n"
		if r := b.upload(in); r.Code != http.StatusOK {
			t.Fatalf("import: %d", r.Code)
		}
		// A webhook signed up on the status page: exported with its owner,
		// never its signing secret.
		hook := c.signUpWebhook("https://93.184.215.14/status?token=x", "dev@example.com")
		in += "webhook,https://93.184.215.14/status?token=x,all,dev@example.com\n"
		r := b.get("/console/subscribers/export.csv")
		if r.Code != http.StatusOK {
			t.Fatalf("export: %d: %.300s", r.Code, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="subscribers-`) {
			t.Errorf("Content-Disposition %q", cd)
		}
		if !strings.HasPrefix(hook.WebhookSecret, "whsec_") || strings.Contains(string(r.Body), hook.WebhookSecret) || strings.Contains(string(r.Body), "whsec_") {
			t.Errorf("the export holds a webhook's signing secret:\n%s", r.Body)
		}
		known := map[string]bool{}
		for k := range c.ids {
			known[k] = true
		}
		want, _, err := herald.ParseSubscriberCSV(strings.NewReader(in), known, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, report, err := herald.ParseSubscriberCSV(bytes.NewReader(r.Body), known, 0)
		if err != nil || len(report.Refused) > 0 {
			t.Fatalf("re-import of the export: %v %+v\n%s", err, report.Refused, r.Body)
		}
		key := func(rows []herald.CSVSubscriber) map[string]herald.CSVSubscriber {
			m := map[string]herald.CSVSubscriber{}
			for _, r := range rows {
				m[r.Channel+" "+r.Address] = r
			}
			return m
		}
		if d := gocmp.Diff(key(want), key(got)); d != "" {
			t.Errorf("round trip (-imported +exported):\n%s", d)
		}
		// And importing the export again stores nothing new: the webhook
		// line is refused with the reason.
		r = b.upload(string(r.Body))
		doc := parseHTML(t, r.Body)
		if got := text(queryOne(t, doc, `[data-testid="import-summary"]`)); !strings.Contains(got, "0 of 4 lines imported") {
			t.Errorf("re-import summary %q", got)
		}
		if reasons := texts(queryAll(t, doc, `[data-testid="refused-reason"]`)); !slices.Contains(reasons, herald.ImportWebhookRefused) {
			t.Errorf("re-import reasons %q", reasons)
		}
	})
}
