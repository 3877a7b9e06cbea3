package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/kredete/herald"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// TestSubscriberAdmin is the console side of subscribers, on both databases.
func TestSubscriberAdmin(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, dialect string)
	}{
		{"ImportLeavesExistingAlone", testImportSubscribers},
		{"ListFiltersAndPages", testListSubscribers},
		{"RemoveKeepsAuditWithoutAddress", testRemoveSubscriber},
		{"ExportRoundTrip", testExportSubscribers},
	}
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { tt.run(t, d) })
			}
		})
	}
}

func importCSV(t *testing.T, s *store.Store, rows []herald.CSVSubscriber) herald.SubscriberImport {
	t.Helper()
	res, err := s.ImportSubscribers(t.Context(), rows, "Ada <ada@kredete.test>")
	if err != nil {
		t.Fatalf("ImportSubscribers: %v", err)
	}
	return res
}

// signUpWebhook subscribes a webhook as the status page does and confirms
// it: the only way a webhook is stored (an import refuses them).
func signUpWebhook(t *testing.T, s *store.Store, clk *clock, url, owner string) herald.Subscriber {
	t.Helper()
	res, err := s.Subscribe(t.Context(), herald.SubscriptionRequest{Channel: herald.SubscriberWebhook, Address: url,
		OwnerEmail: owner, AllComponents: true}, clk.Now())
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", url, err)
	}
	return confirm(t, s, res.Token)
}

func listAll(t *testing.T, s *store.Store, f herald.SubscriberFilter) []herald.Subscriber {
	t.Helper()
	list, err := s.ListSubscribers(t.Context(), f, "", 1000)
	if err != nil {
		t.Fatalf("ListSubscribers(%+v): %v", f, err)
	}
	return list
}

func addresses(list []herald.Subscriber) []string {
	var out []string
	for _, s := range list {
		out = append(out, s.Address)
	}
	return out
}

func testImportSubscribers(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	comps := seed(t, s)
	// Already there: one confirmed (with a component), one pending, one
	// unsubscribed.
	conf := confirm(t, s, subscribe(t, s, clk, "known@example.com", false, comps["api-platform"].ID).Token)
	subscribe(t, s, clk, "pending@example.com", true)
	gone := subscribe(t, s, clk, "gone@example.com", true)
	if _, err := s.Unsubscribe(ctx, gone.Token); err != nil {
		t.Fatal(err)
	}
	rows := []herald.CSVSubscriber{
		{Channel: "email", Address: "new@example.com"},
		{Channel: "email", Address: "known@example.com"}, // all components in the file: stays api-platform only
		{Channel: "sms", Address: "+27215550123", Components: []string{"api-platform", "customer-portal"}},
		{Channel: "email", Address: "pending@example.com"},
		{Channel: "webhook", Address: "https://hooks.example.com/x", OwnerEmail: "dev@example.com"},
		{Channel: "email", Address: "gone@example.com"},
		{Channel: "email", Address: "ghost@example.com", Components: []string{"no-such-component"}},
	}
	res := importCSV(t, s, rows)
	// A webhook is refused: its signing secret would reach nobody.
	want := herald.SubscriberImport{Imported: 2, Channels: map[string]int{"email": 1, "sms": 1},
		Skipped: []herald.ImportSkip{{Index: 1, Reason: herald.ImportAlreadySubscribed}, {Index: 3, Reason: herald.ImportAlreadySubscribed},
			{Index: 4, Reason: herald.ImportWebhookRefused}, {Index: 5, Reason: herald.ImportUnsubscribed}, {Index: 6, Reason: herald.ImportUnknownComponent}}}
	if d := gocmp.Diff(want, res); d != "" {
		t.Errorf("import (-want +got):\n%s", d)
	}

	after, err := s.ListSubscribers(ctx, herald.SubscriberFilter{Query: "known@"}, "", 10)
	if err != nil || len(after) != 1 {
		t.Fatalf("known: %v %v", after, err)
	}
	if d := gocmp.Diff(conf, after[0]); d != "" {
		t.Errorf("an existing subscriber changed (-before +after):\n%s", d)
	}
	if got := listAll(t, s, herald.SubscriberFilter{Query: "pending@"}); len(got) != 1 || got[0].State != herald.SubscriberPending {
		t.Errorf("pending subscriber now %+v", got)
	}
	if got := listAll(t, s, herald.SubscriberFilter{Query: "gone@"}); len(got) != 1 || got[0].State != herald.SubscriberUnsubscribed {
		t.Errorf("unsubscribed subscriber now %+v", got)
	}
	for _, sub := range listAll(t, s, herald.SubscriberFilter{Query: "new@"}) {
		if sub.State != herald.SubscriberConfirmed || sub.Source != herald.SourceImport || sub.ConfirmedAt == nil || !sub.AllComponents {
			t.Errorf("imported %+v", sub)
		}
	}
	sms := listAll(t, s, herald.SubscriberFilter{Channel: herald.SubscriberSMS})
	if len(sms) != 1 || sms[0].AllComponents || len(sms[0].ComponentIDs) != 2 {
		t.Errorf("sms %+v", sms)
	}
	if hooks := listAll(t, s, herald.SubscriberFilter{Channel: herald.SubscriberWebhook}); len(hooks) != 0 {
		t.Errorf("imported a webhook: %+v", hooks)
	}
	// The audit log says how many, never which addresses.
	log, err := s.Audit(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range log {
		if e.Action == "subscriber.import" {
			found = true
			if strings.Contains(e.After, "@") || strings.Contains(e.After, "+2721") || !strings.Contains(e.After, `"imported":2`) {
				t.Errorf("import audit %s", e.After)
			}
		}
	}
	if !found {
		t.Error("no subscriber.import audit entry")
	}
	// The same file again stores nothing.
	res = importCSV(t, s, rows)
	if res.Imported != 0 || len(res.Skipped) != len(rows) {
		t.Errorf("second import %+v", res)
	}
	counts, err := s.CountSubscribers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Total(herald.SubscriberEmail, herald.SubscriberConfirmed) != 2 || counts.Total(herald.SubscriberSMS, herald.SubscriberConfirmed) != 1 {
		t.Errorf("counts %v", counts)
	}
}

func testListSubscribers(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	comps := seed(t, s)
	api, portal := comps["api-platform"].ID, comps["customer-portal"].ID
	importCSV(t, s, []herald.CSVSubscriber{
		{Channel: "email", Address: "alice@example.com"},
		{Channel: "email", Address: "bob@corp.example", Components: []string{"api-platform"}},
		{Channel: "email", Address: "carol_100%@example.com", Components: []string{"customer-portal"}},
		{Channel: "sms", Address: "+27215550123", Components: []string{"api-platform"}},
	})
	signUpWebhook(t, s, clk, "https://hooks.example.com/Path", "o@example.com")
	subscribe(t, s, clk, "dave@example.com", false, portal) // pending

	tests := []struct {
		name string
		f    herald.SubscriberFilter
		want []string
	}{
		{"all", herald.SubscriberFilter{}, []string{"alice@example.com", "bob@corp.example", "carol_100%@example.com", "dave@example.com", "+27215550123", "https://hooks.example.com/Path"}},
		{"query in any case", herald.SubscriberFilter{Query: "CORP"}, []string{"bob@corp.example"}},
		{"query in a webhook path", herald.SubscriberFilter{Query: "/path"}, []string{"https://hooks.example.com/Path"}},
		{"wildcards are literal", herald.SubscriberFilter{Query: "_100%"}, []string{"carol_100%@example.com"}},
		{"percent alone matches only a percent", herald.SubscriberFilter{Query: "%"}, []string{"carol_100%@example.com"}},
		{"channel", herald.SubscriberFilter{Channel: herald.SubscriberSMS}, []string{"+27215550123"}},
		{"state", herald.SubscriberFilter{State: herald.SubscriberPending}, []string{"dave@example.com"}},
		{"component: chosen or all", herald.SubscriberFilter{ComponentID: api}, []string{"alice@example.com", "bob@corp.example", "+27215550123", "https://hooks.example.com/Path"}},
		{"component and channel", herald.SubscriberFilter{ComponentID: portal, Channel: herald.SubscriberEmail}, []string{"alice@example.com", "carol_100%@example.com", "dave@example.com"}},
		{"nothing", herald.SubscriberFilter{Query: "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := addresses(listAll(t, s, tt.f))
			if d := gocmp.Diff(sortedCopy(tt.want), sortedCopy(got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}

	// Paging: id order, no repeats, every one once.
	seen, after, pages := map[string]bool{}, "", 0
	for {
		page, err := s.ListSubscribers(ctx, herald.SubscriberFilter{}, after, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		pages++
		for i, sub := range page {
			if seen[sub.ID] || (i > 0 && sub.ID <= page[i-1].ID) || sub.ID <= after {
				t.Errorf("page %d: %s out of order or repeated", pages, sub.ID)
			}
			seen[sub.ID] = true
		}
		after = page[len(page)-1].ID
	}
	if pages != 2 || len(seen) != 6 {
		t.Errorf("%d pages, %d subscribers; want 2, 6", pages, len(seen))
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func testRemoveSubscriber(t *testing.T, dialect string) {
	ctx := t.Context()
	s, _ := open(t, dialect)
	seed(t, s)
	importCSV(t, s, []herald.CSVSubscriber{
		{Channel: "email", Address: "leave-me@example.com", Components: []string{"api-platform"}},
		{Channel: "email", Address: "stay@example.com"},
	})
	list := listAll(t, s, herald.SubscriberFilter{Query: "leave-me"})
	if len(list) != 1 {
		t.Fatalf("list %v", list)
	}
	id := list[0].ID
	if err := s.RemoveSubscriber(ctx, id, "Ada <ada@kredete.test>"); err != nil {
		t.Fatalf("RemoveSubscriber: %v", err)
	}
	if got := addresses(listAll(t, s, herald.SubscriberFilter{})); !gocmp.Equal(got, []string{"stay@example.com"}) {
		t.Errorf("after removal %v", got)
	}
	if err := s.RemoveSubscriber(ctx, id, "Ada"); !errors.Is(err, herald.ErrNotFound) {
		t.Errorf("second removal: %v, want ErrNotFound", err)
	}
	log, err := s.Audit(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var entry *herald.AuditEntry
	for i, e := range log {
		if strings.Contains(e.Before+e.After, "leave-me") {
			t.Errorf("the audit log keeps the removed address: %+v", e)
		}
		if e.Action == "subscriber.remove" {
			entry = &log[i]
		}
	}
	if entry == nil || entry.EntityID != id || entry.Actor != "Ada <ada@kredete.test>" || !strings.Contains(entry.Before, `"channel":"email"`) {
		t.Errorf("removal audit %+v", entry)
	}
	// Removed means gone: the address may be imported again.
	if res := importCSV(t, s, []herald.CSVSubscriber{{Channel: "email", Address: "leave-me@example.com"}}); res.Imported != 1 {
		t.Errorf("re-import after removal %+v", res)
	}
}

func testExportSubscribers(t *testing.T, dialect string) {
	ctx := t.Context()
	s, clk := open(t, dialect)
	seed(t, s)
	known := map[string]bool{"api-platform": true, "credit-origination": true, "customer-portal": true}
	var in bytes.Buffer
	in.WriteString("channel,address,components,owner_email\n")
	// More than one export page.
	for i := range 1203 {
		fmt.Fprintf(&in, "email,user%04d@example.com,%s,\n", i, []string{"all", "api-platform", "customer-portal;api-platform"}[i%3])
	}
	in.WriteString("sms,+27215550123,credit-origination,\n")
	rows, report, err := herald.ParseSubscriberCSV(bytes.NewReader(in.Bytes()), known, 0)
	if err != nil || len(report.Refused) > 0 {
		t.Fatalf("parse: %v %+v", err, report.Refused)
	}
	start := time.Now()
	if res := importCSV(t, s, rows); res.Imported != len(rows) {
		t.Fatalf("imported %d of %d: %+v", res.Imported, len(rows), res.Skipped[:min(5, len(res.Skipped))])
	}
	t.Logf("imported %d rows in %v", len(rows), time.Since(start))
	// A webhook (from a sign-up: an import refuses them) is exported with
	// its owner, never its secret.
	hook := signUpWebhook(t, s, clk, "https://hooks.example.com/x?a=1", "dev@example.com")
	rows = append(rows, herald.CSVSubscriber{Channel: "webhook", Address: hook.Address, OwnerEmail: "dev@example.com"})
	// Not exported: pending (and ended) subscribers.
	subscribe(t, s, clk, "pending@example.com", true)

	var out bytes.Buffer
	w := herald.NewSubscriberCSVWriter(&out)
	n := 0
	if err := s.ExportSubscribers(ctx, func(r herald.CSVSubscriber) error { n++; return w.Write(r) }); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "pending@") {
		t.Error("a pending subscriber was exported")
	}
	if !strings.HasPrefix(hook.WebhookSecret, "whsec_") || strings.Contains(out.String(), hook.WebhookSecret) || strings.Contains(out.String(), "whsec_") {
		t.Error("a webhook's signing secret was exported")
	}
	again, report, err := herald.ParseSubscriberCSV(&out, known, 0)
	if err != nil || len(report.Refused) > 0 || n != len(rows) {
		t.Fatalf("re-parse: %v %+v; %d exported", err, report.Refused, n)
	}
	key := func(r herald.CSVSubscriber) string { return r.Channel + " " + r.Address }
	byKey := map[string]herald.CSVSubscriber{}
	for _, r := range again {
		byKey[key(r)] = r
	}
	for _, r := range rows {
		if d := gocmp.Diff(r, byKey[key(r)]); d != "" {
			t.Errorf("round trip of %s (-imported +exported):\n%s", key(r), d)
			break
		}
	}
	// Exporting refuses nothing on the way: an error from fn stops it.
	stop := errors.New("stop")
	if err := s.ExportSubscribers(ctx, func(herald.CSVSubscriber) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("export error %v", err)
	}
}
