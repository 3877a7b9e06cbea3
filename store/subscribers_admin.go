package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kredete/herald"
)

// The console's side of subscribers: list, remove, import, export.

const (
	// importBatch is how many rows one import transaction stores: big
	// enough that 100,000 rows take seconds, small enough that a
	// transaction holds SQLite's write lock briefly and a statement stays
	// under both databases' parameter limits (7 per row).
	importBatch = 1000
	// exportPage is how many subscribers an export reads per query.
	exportPage = 1000

	deleteSubscriber = `DELETE FROM subscribers WHERE id = $1`
	// Imported subscribers are confirmed as of the import (Statuspage
	// does the same): whoever imports vouches for their consent.
	importSubscriberRow = `(?, ?, ?, ?, 'confirmed', ?, ?, ?, 'import', $1, $1, $1)`
	importSubscribers   = `INSERT INTO subscribers (id, channel, address, all_components, state, token_hash, webhook_secret,
		owner_email, source, created_at, updated_at, confirmed_at) VALUES `
	importSubscribersEnd = ` ON CONFLICT (channel, address) DO NOTHING RETURNING id`
)

// ListSubscribers returns up to limit subscribers matching f, in id order
// after afterID ("" for the first page), with their components.
func (s *Store) ListSubscribers(ctx context.Context, f herald.SubscriberFilter, afterID string, limit int) ([]herald.Subscriber, error) {
	limit = max(1, min(limit, 10000))
	query := `SELECT ` + subscriberColumns + ` FROM subscribers s WHERE id > $1`
	args := []any{afterID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		query += ` AND LOWER(address) LIKE ` + arg("%"+likeEscape(strings.ToLower(q))+"%") + ` ESCAPE '\'`
	}
	if f.Channel != "" {
		query += ` AND channel = ` + arg(string(f.Channel))
	}
	if f.State != "" {
		query += ` AND state = ` + arg(string(f.State))
	}
	if f.ComponentID != "" {
		query += ` AND (all_components OR EXISTS (SELECT 1 FROM subscriber_components sc WHERE sc.subscriber_id = s.id
			AND sc.component_id = ` + arg(f.ComponentID) + `))`
	}
	query += ` ORDER BY id LIMIT ` + strconv.Itoa(limit)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list subscribers: %w", err)
	}
	var out []herald.Subscriber
	for rows.Next() {
		sub, err := scanSubscriber(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: list subscribers: %w", err)
		}
		out = append(out, sub)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list subscribers: %w", err)
	}
	if err := s.fillSubscriberComponents(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// likeEscape escapes LIKE's wildcards (and the escape character) in s.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// RemoveSubscriber deletes a subscriber and its components for good, with
// an audit entry that says who removed it and what it was (channel, state,
// components, source) but not its address: a removal is how the console
// answers a request to be forgotten, so the address leaves the database.
// The same address may subscribe (or be imported) again afterwards.
// herald.ErrNotFound when there is no such subscriber.
func (s *Store) RemoveSubscriber(ctx context.Context, id, actor string) error {
	return s.transact(ctx, false, func(tx *sql.Tx) error {
		cur, err := s.subscriberRow(ctx, tx, s.q(selectSubscriberByID+forUpdate(s)), id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(deleteSubscriberComps), id); err != nil {
			return fmt.Errorf("store: remove subscriber components: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(deleteSubscriber), id); err != nil {
			return fmt.Errorf("store: remove subscriber: %w", err)
		}
		return s.audit(ctx, tx, auditRecord{Actor: actor, Action: "subscriber.remove", Entity: "subscriber",
			EntityID: cur.ID, Before: subscriberAudit(cur)})
	})
}

// ImportSubscribers stores rows (as herald.ParseSubscriberCSV returns them)
// as confirmed subscribers with source "import", in transactions of
// importBatch rows, each with one audit entry (counts, no addresses).
// A row whose channel and address are already stored is skipped and the
// stored subscriber left as it is, whatever its state: an unsubscribed
// address is not subscribed again by someone else's file. A webhook row is
// skipped (herald.ImportWebhookRefused): its signing secret would reach
// nobody, as only a sign-up's confirmation mail gives it to the owner. A
// row naming a component that no longer exists is skipped. Rows stored
// before an error stay stored.
func (s *Store) ImportSubscribers(ctx context.Context, rows []herald.CSVSubscriber, actor string) (herald.SubscriberImport, error) {
	res := herald.SubscriberImport{Channels: map[string]int{}}
	comps, err := s.Components(ctx)
	if err != nil {
		return res, err
	}
	byKey := make(map[string]string, len(comps))
	for _, c := range comps {
		byKey[c.Key] = c.ID
	}
	seen := map[string]bool{}
	for start := 0; start < len(rows); start += importBatch {
		end := min(start+importBatch, len(rows))
		if err := s.importBatch(ctx, rows, start, end, byKey, seen, actor, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// importBatch stores rows[start:end] in one transaction.
func (s *Store) importBatch(ctx context.Context, rows []herald.CSVSubscriber, start, end int, byKey map[string]string,
	seen map[string]bool, actor string, res *herald.SubscriberImport) error {
	var skipped []herald.ImportSkip
	imported := map[string]int{}
	err := s.transact(ctx, false, func(tx *sql.Tx) error {
		skipped, imported = nil, map[string]int{}
		existing, err := s.existingSubscribers(ctx, tx, rows[start:end])
		if err != nil {
			return err
		}
		type pending struct {
			index int
			id    string
			comps []string
		}
		var todo []pending
		var args []any
		var values []string
		now := s.Now()
		args = append(args, now)
		for i := start; i < end; i++ {
			r := rows[i]
			if r.Channel == string(herald.SubscriberWebhook) {
				skipped = append(skipped, herald.ImportSkip{Index: i, Reason: herald.ImportWebhookRefused})
				continue
			}
			key := r.Channel + "\x00" + r.Address
			if st, ok := existing[key]; ok {
				skipped = append(skipped, herald.ImportSkip{Index: i, Reason: importSkipReason(st)})
				continue
			}
			if seen[key] {
				skipped = append(skipped, herald.ImportSkip{Index: i, Reason: herald.ImportAlreadySubscribed})
				continue
			}
			var ids []string
			unknown := false
			for _, k := range r.Components {
				id, ok := byKey[k]
				if !ok {
					unknown = true
					break
				}
				ids = append(ids, id)
			}
			if unknown {
				skipped = append(skipped, herald.ImportSkip{Index: i, Reason: herald.ImportUnknownComponent})
				continue
			}
			p := pending{index: i, id: newID(), comps: ids}
			_, hash := herald.NewSubscriberToken()
			args = append(args, p.id, r.Channel, r.Address, len(ids) == 0, hash, "", "")
			values = append(values, importSubscriberRow)
			todo = append(todo, p)
		}
		if len(todo) == 0 {
			return nil
		}
		// Placeholders: $1 is now, then seven per row.
		n := 1
		stmt := importSubscribers + strings.Join(values, ", ") + importSubscribersEnd
		stmt = placeholderSeq(stmt, &n)
		qr, err := tx.QueryContext(ctx, s.q(stmt), args...)
		if err != nil {
			return fmt.Errorf("store: import subscribers: %w", err)
		}
		stored := map[string]bool{}
		for qr.Next() {
			var id string
			if err := qr.Scan(&id); err != nil {
				qr.Close()
				return fmt.Errorf("store: import subscribers: %w", err)
			}
			stored[id] = true
		}
		qr.Close()
		if err := qr.Err(); err != nil {
			return fmt.Errorf("store: import subscribers: %w", err)
		}
		var compArgs []any
		var compValues []string
		for _, p := range todo {
			r := rows[p.index]
			if !stored[p.id] {
				// Subscribed from the public page since the check above.
				skipped = append(skipped, herald.ImportSkip{Index: p.index, Reason: herald.ImportAlreadySubscribed})
				continue
			}
			imported[r.Channel]++
			for _, c := range p.comps {
				compArgs = append(compArgs, p.id, c)
				compValues = append(compValues, "(?, ?)")
			}
		}
		for len(compValues) > 0 {
			k := min(len(compValues), 2000)
			n := 0
			stmt := placeholderSeq(`INSERT INTO subscriber_components (subscriber_id, component_id) VALUES `+
				strings.Join(compValues[:k], ", "), &n)
			if _, err := tx.ExecContext(ctx, s.q(stmt), compArgs[:2*k]...); err != nil {
				return fmt.Errorf("store: import subscriber components: %w", err)
			}
			compValues, compArgs = compValues[k:], compArgs[2*k:]
		}
		total := 0
		for _, c := range imported {
			total += c
		}
		if total == 0 {
			return nil
		}
		return s.audit(ctx, tx, auditRecord{Actor: actor, Action: "subscriber.import", Entity: "subscriber",
			After: map[string]any{"imported": total, "channels": imported, "source": herald.SourceImport, "state": herald.SubscriberConfirmed}})
	})
	if err != nil {
		return err
	}
	for i := start; i < end; i++ {
		seen[rows[i].Channel+"\x00"+rows[i].Address] = true
	}
	for ch, c := range imported {
		res.Channels[ch] += c
		res.Imported += c
	}
	// Skips in row order: the ones found at insert time come last above.
	res.Skipped = append(res.Skipped, sortSkips(skipped)...)
	return nil
}

func sortSkips(s []herald.ImportSkip) []herald.ImportSkip {
	slices.SortFunc(s, func(a, b herald.ImportSkip) int { return cmp.Compare(a.Index, b.Index) })
	return s
}

// placeholderSeq numbers the "?" placeholders of stmt from *n+1 on, in
// order. (The statements it is used for hold no "?" in literals.)
func placeholderSeq(stmt string, n *int) string {
	var b strings.Builder
	b.Grow(len(stmt) + len(stmt)/4)
	for _, c := range stmt {
		if c == '?' {
			*n++
			b.WriteString("$" + strconv.Itoa(*n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// existingSubscribers maps "channel\x00address" to the state of the rows'
// addresses already stored.
func (s *Store) existingSubscribers(ctx context.Context, tx *sql.Tx, rows []herald.CSVSubscriber) (map[string]herald.SubscriberState, error) {
	byChannel := map[string][]any{}
	for _, r := range rows {
		byChannel[r.Channel] = append(byChannel[r.Channel], r.Address)
	}
	out := map[string]herald.SubscriberState{}
	for ch, addrs := range byChannel {
		ph := make([]string, len(addrs))
		for i := range addrs {
			ph[i] = "$" + strconv.Itoa(i+2)
		}
		q, err := tx.QueryContext(ctx, s.q(`SELECT address, state FROM subscribers WHERE channel = $1 AND address IN (`+
			strings.Join(ph, ", ")+`)`), append([]any{ch}, addrs...)...)
		if err != nil {
			return nil, fmt.Errorf("store: find subscribers: %w", err)
		}
		for q.Next() {
			var addr string
			var st herald.SubscriberState
			if err := q.Scan(&addr, &st); err != nil {
				q.Close()
				return nil, fmt.Errorf("store: find subscribers: %w", err)
			}
			out[ch+"\x00"+addr] = st
		}
		q.Close()
		if err := q.Err(); err != nil {
			return nil, fmt.Errorf("store: find subscribers: %w", err)
		}
	}
	return out, nil
}

func importSkipReason(st herald.SubscriberState) string {
	switch st {
	case herald.SubscriberUnsubscribed:
		return herald.ImportUnsubscribed
	case herald.SubscriberDisabled:
		return herald.ImportDisabled
	}
	return herald.ImportAlreadySubscribed
}

// ExportSubscribers calls fn with every confirmed subscriber, in id order,
// reading a page at a time (no query stays open while fn runs, so a slow
// reader holds no connection or lock). Only confirmed subscribers are
// exported: the file has no state column, and importing it confirms every
// line, so a pending or unsubscribed address must not be in it. A
// subscriber whose chosen components have all been deleted is left out.
func (s *Store) ExportSubscribers(ctx context.Context, fn func(herald.CSVSubscriber) error) error {
	comps, err := s.Components(ctx)
	if err != nil {
		return err
	}
	keyOf := make(map[string]string, len(comps))
	for _, c := range comps {
		keyOf[c.ID] = c.Key
	}
	after := ""
	for {
		page, err := s.ListSubscribers(ctx, herald.SubscriberFilter{State: herald.SubscriberConfirmed}, after, exportPage)
		if err != nil {
			return fmt.Errorf("store: export subscribers: %w", err)
		}
		for _, sub := range page {
			row := herald.CSVSubscriber{Channel: string(sub.Channel), Address: sub.Address, OwnerEmail: sub.OwnerEmail}
			if !sub.AllComponents {
				for _, id := range sub.ComponentIDs {
					if k, ok := keyOf[id]; ok {
						row.Components = append(row.Components, k)
					}
				}
				// Sorted as the parser sorts them, so a file re-imports
				// to the same rows.
				slices.Sort(row.Components)
				if len(row.Components) == 0 {
					// Its components were all deleted: exported as
					// "all" it would be told more than it chose.
					continue
				}
			}
			if sub.Channel != herald.SubscriberWebhook {
				row.OwnerEmail = ""
			}
			if err := fn(row); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		after = page[len(page)-1].ID
	}
}
