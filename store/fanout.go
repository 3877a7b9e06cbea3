package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/kredete/herald"
)

const (
	insertFanout = `INSERT INTO fanouts (id, incident_id, update_id, channel, event, state, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, 'running', $6, $6) ON CONFLICT (update_id, channel) DO NOTHING`
	selectFanout     = `SELECT COALESCE(incident_id, ''), update_id, channel, event, cursor, queued, state FROM fanouts WHERE id = $1`
	advanceFanout    = `UPDATE fanouts SET cursor = $2, queued = queued + $3, updated_at = $4 WHERE id = $1 AND cursor = $5`
	finishFanout     = `UPDATE fanouts SET state = 'done', done_at = $2, updated_at = $2 WHERE id = $1`
	anyConfirmed     = `SELECT COUNT(*) FROM (SELECT 1 FROM subscribers WHERE channel = $1 AND state = 'confirmed' LIMIT 1) AS first`
	selectSubscriber = `SELECT ` + subscriberColumns + ` FROM subscribers WHERE id = $1`
)

// subscriberQueue is the River queue of subscriber deliveries: apart from
// the plan's messages, so a fan-out to a hundred thousand subscribers never
// delays the commander's Slack thread or the executives' texts.
const subscriberQueue = "subscribers"

// fanoutArgs is the job: write the deliveries of one fan-out.
type fanoutArgs struct {
	FanoutID string `json:"fanout_id"`
}

func (fanoutArgs) Kind() string { return "herald_fanout" }

// EnableFanout makes public updates reach the page's subscribers.
func (s *Store) EnableFanout(on bool) { s.fanout = on }

// Fanout is one update's fan-out to one channel's subscribers.
type Fanout struct {
	ID, IncidentID, UpdateID string
	Channel                  herald.SubscriberChannel
	Event                    herald.SubscriberEvent
	Cursor                   string // the last subscriber id written
	Queued                   int
	Done                     bool
}

// queueFanouts writes, with a public update, one fan-out per channel its
// event goes out on that has confirmed subscribers, and their jobs. first
// is the declaration's update.
func (s *Store) queueFanouts(ctx context.Context, tx *sql.Tx, in herald.Incident, up herald.Update, first bool, now time.Time) error {
	if !s.fanout {
		return nil
	}
	ev, ok := herald.SubscriberEventOf(in, up, first)
	if !ok {
		return nil
	}
	var jobs []river.InsertManyParams
	for _, ch := range herald.SubscriberChannelsFor(ev) {
		job, err := s.writeFanout(ctx, tx, in.ID, up.ID, ch, ev, now)
		if err != nil {
			return err
		}
		if job != nil {
			jobs = append(jobs, *job)
		}
	}
	return s.insertFanoutJobs(ctx, tx, jobs)
}

// queueComponentFanout writes, with a component's change of status, its
// fan-out to the webhook subscribers (the only ones told of a component
// on its own, as on Statuspage). incidentID is the incident whose update
// changed it, if any.
func (s *Store) queueComponentFanout(ctx context.Context, tx *sql.Tx, changeID int64, incidentID string, now time.Time) error {
	if !s.fanout {
		return nil
	}
	var jobs []river.InsertManyParams
	for _, ch := range herald.SubscriberChannelsFor(herald.EventComponentUpdated) {
		job, err := s.writeFanout(ctx, tx, incidentID, herald.ComponentChangeRef(changeID), ch, herald.EventComponentUpdated, now)
		if err != nil {
			return err
		}
		if job != nil {
			jobs = append(jobs, *job)
		}
	}
	return s.insertFanoutJobs(ctx, tx, jobs)
}

// writeFanout writes one fan-out when the channel has confirmed
// subscribers, and returns its job (nil when there is nothing to do).
func (s *Store) writeFanout(ctx context.Context, tx *sql.Tx, incidentID, ref string, ch herald.SubscriberChannel, ev herald.SubscriberEvent, now time.Time) (*river.InsertManyParams, error) {
	var n int
	if err := tx.QueryRowContext(ctx, s.q(anyConfirmed), ch).Scan(&n); err != nil {
		return nil, fmt.Errorf("store: fan-out: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	id := newID()
	res, err := tx.ExecContext(ctx, s.q(insertFanout), id, nullString(incidentID), ref, ch, ev, now)
	if err != nil {
		return nil, fmt.Errorf("store: fan-out: %w", err)
	}
	if k, _ := res.RowsAffected(); k != 1 {
		return nil, nil
	}
	return &river.InsertManyParams{Args: fanoutArgs{FanoutID: id}, InsertOpts: &river.InsertOpts{Queue: subscriberQueue}}, nil
}

func (s *Store) insertFanoutJobs(ctx context.Context, tx *sql.Tx, jobs []river.InsertManyParams) error {
	if len(jobs) == 0 {
		return nil
	}
	c, err := s.inserter()
	if err != nil {
		return err
	}
	if _, err := c.InsertManyTx(ctx, tx, jobs); err != nil {
		return fmt.Errorf("store: queue fan-out: %w", err)
	}
	return nil
}

// ComponentChange reads a component's change of status from the history,
// with the status it changed from (operational when it is the first).
func (s *Store) ComponentChange(ctx context.Context, changeID int64) (herald.ComponentChangeNotice, error) {
	n := herald.ComponentChangeNotice{ChangeID: changeID}
	var old sql.NullString
	err := s.db.QueryRowContext(ctx, s.q(`SELECT c.component_id, c.status, c.changed_at, COALESCE(c.incident_id, ''),
		(SELECT p.status FROM component_status_changes p WHERE p.component_id = c.component_id
			AND (p.changed_at < c.changed_at OR (p.changed_at = c.changed_at AND p.id < c.id))
			ORDER BY p.changed_at DESC, p.id DESC LIMIT 1)
		FROM component_status_changes c WHERE c.id = $1`), changeID).Scan(&n.ComponentID, &n.New, &n.At, &n.IncidentID, &old)
	if errors.Is(err, sql.ErrNoRows) {
		return n, fmt.Errorf("store: component change %d: %w", changeID, herald.ErrNotFound)
	}
	if err != nil {
		return n, fmt.Errorf("store: component change: %w", err)
	}
	n.At = n.At.UTC()
	n.Old = herald.Operational
	if old.Valid {
		n.Old = herald.ComponentStatus(old.String)
	}
	return n, nil
}

// FanoutState reads a fan-out.
func (s *Store) FanoutState(ctx context.Context, id string) (Fanout, error) {
	f := Fanout{ID: id}
	var state string
	err := s.db.QueryRowContext(ctx, s.q(selectFanout), id).Scan(&f.IncidentID, &f.UpdateID, &f.Channel, &f.Event, &f.Cursor,
		&f.Queued, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("store: fan-out %q: %w", id, herald.ErrNotFound)
	}
	if err != nil {
		return f, fmt.Errorf("store: fan-out: %w", err)
	}
	f.Done = state == "done"
	return f, nil
}

// Fanouts lists an incident's fan-outs.
func (s *Store) Fanouts(ctx context.Context, incidentID string) ([]Fanout, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id FROM fanouts WHERE incident_id = $1 ORDER BY created_at, id`), incidentID)
	if err != nil {
		return nil, fmt.Errorf("store: fan-outs: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: fan-outs: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	out := make([]Fanout, 0, len(ids))
	for _, id := range ids {
		f, err := s.FanoutState(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// FanoutPage writes the deliveries of the next page of subscribers (at
// most size) and moves the cursor past them, in one transaction; it
// reports whether the fan-out is done. The page is read before the
// transaction, and the cursor is moved only from where it was read: a
// second worker on the same fan-out (a rescued job) writes nothing twice,
// and the unique delivery keys make "once per subscriber" a constraint.
func (s *Store) FanoutPage(ctx context.Context, id string, size int) (bool, error) {
	done, _, err := s.FanoutPageAhead(ctx, id, size, 0)
	return done, err
}

// FanoutPageAhead is FanoutPage that writes nothing (full) while ahead or
// more of the channel's subscriber messages are already waiting in the
// queue (no limit when ahead is 0). The deliveries are written as they are
// sent, not all at once: a hundred thousand rows and jobs written in the
// first seconds after an update would take the processor from the status
// page exactly when everyone reloads it, and would stand between a later
// fan-out's writer and the queue.
func (s *Store) FanoutPageAhead(ctx context.Context, id string, size, ahead int) (done, full bool, err error) {
	f, err := s.FanoutState(ctx, id)
	if err != nil || f.Done {
		return f.Done, false, err
	}
	if ahead > 0 {
		n, err := s.subscriberBacklog(ctx, f.Channel, ahead)
		if err != nil {
			return false, false, err
		}
		if n >= ahead {
			return false, true, nil
		}
	}
	done, err = s.fanoutPage(ctx, f, size)
	return done, false, err
}

// fanoutPriority is the River priority of a channel's subscriber jobs. In
// the subscribers' queue, fan-out jobs (priority 1) go first, then texts and
// webhook calls, then mails: a long email fan-out never holds up the next
// update's fan-out or its SMS.
func fanoutPriority(ch herald.SubscriberChannel) int {
	if ch == herald.SubscriberEmail {
		return 3
	}
	return 2 // a text or a webhook call: short
}

// subscriberBacklog counts, up to limit, the jobs of the channel's priority
// waiting in the subscribers' queue. It reads River's job table over River's
// own fetch index (state, queue, priority, ...), so it costs at most limit
// index entries.
func (s *Store) subscriberBacklog(ctx context.Context, ch herald.SubscriberChannel, limit int) (int, error) {
	var n int
	err := s.prep(nil).QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM (SELECT 1 FROM river_job WHERE state = 'available'
		AND queue = $1 AND priority = $2 LIMIT $3) AS waiting`), subscriberQueue, fanoutPriority(ch), limit).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: fan-out backlog: %w", err)
	}
	return n, nil
}

func (s *Store) fanoutPage(ctx context.Context, f Fanout, size int) (bool, error) {
	id := f.ID
	// Who is concerned: by the incident's components, or, for a
	// component's change, by that component.
	var about herald.Incident
	if changeID, ok := herald.ParseComponentChangeRef(f.UpdateID); ok {
		c, err := s.ComponentChange(ctx, changeID)
		if errors.Is(err, herald.ErrNotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		about.ComponentIDs = []string{c.ComponentID}
	} else {
		list, err := s.loadIncidents(ctx, s.db, `id = $1`, f.IncidentID)
		if err != nil {
			return false, err
		}
		if len(list) == 0 {
			return true, nil // the incident is gone
		}
		about = list[0]
	}
	subs, err := s.ConfirmedSubscribersFor(ctx, about, f.Channel, f.Cursor, size)
	if err != nil {
		return false, err
	}
	done := len(subs) < size
	err = s.transact(ctx, false, func(tx *sql.Tx) error {
		now := s.Now()
		if len(subs) > 0 {
			last := subs[len(subs)-1].ID
			res, err := tx.ExecContext(ctx, s.q(advanceFanout), id, last, len(subs), now, f.Cursor)
			if err != nil {
				return fmt.Errorf("store: fan-out: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				done = false // another worker moved it: look again
				return nil
			}
			ch := herald.Channel(f.Channel)
			ids := make([]string, 0, len(subs))
			for _, sub := range subs {
				did := newID()
				res, err := s.prep(tx).ExecContext(ctx, s.q(s.deliverySeq(insertDelivery)), did, nullString(f.IncidentID), nil, "", ch,
					herald.KindSubscriber, sub.Address, "", "", "sub/"+f.UpdateID+"/"+string(ch)+"/"+sub.ID, "", nil, now, sub.ID, f.UpdateID)
				if err != nil {
					return fmt.Errorf("store: fan-out delivery: %w", err)
				}
				if n, _ := res.RowsAffected(); n == 1 {
					ids = append(ids, did)
				}
			}
			if err := s.enqueueIn(ctx, tx, ids, subscriberQueue, fanoutPriority(f.Channel)); err != nil {
				return err
			}
		}
		if done {
			if _, err := tx.ExecContext(ctx, s.q(finishFanout), id, now); err != nil {
				return fmt.Errorf("store: fan-out: %w", err)
			}
		}
		return nil
	})
	return done, err
}

// SubscriberByID reads one subscriber, in any state.
func (s *Store) SubscriberByID(ctx context.Context, id string) (herald.Subscriber, error) {
	return s.subscriberRow(ctx, s.prep(nil), s.q(selectSubscriber), id)
}

// fanoutWorker writes a fan-out's deliveries a page at a time. It stops
// after a while and asks to be run again, so one huge fan-out neither
// holds a worker nor outlives the job timeout; each page is durable.
//
// It keeps at most about ahead messages of its channel waiting: it writes
// the next page when fewer are, and otherwise looks again every
// fanoutRecheck.
type fanoutWorker struct {
	river.WorkerDefaults[fanoutArgs]
	s        *Store
	pageSize int
	ahead    int
}

const fanoutRecheck = 200 * time.Millisecond

func (w *fanoutWorker) Work(ctx context.Context, job *river.Job[fanoutArgs]) error {
	began := time.Now()
	for time.Since(began) < 20*time.Second {
		done, full, err := w.s.FanoutPageAhead(ctx, job.Args.FanoutID, w.pageSize, w.ahead)
		if err != nil || done {
			return err
		}
		if full {
			t := time.NewTimer(fanoutRecheck)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return river.JobSnooze(time.Second)
}

// SubscriberDeliveryCounts counts an incident's subscriber deliveries by
// channel and state: the fan-out's progress, without listing a hundred
// thousand rows.
func (s *Store) SubscriberDeliveryCounts(ctx context.Context, incidentID string) (map[herald.Channel]map[herald.DeliveryState]int, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT channel, state, COUNT(*) FROM deliveries WHERE incident_id = $1
		AND kind = 'subscriber' GROUP BY channel, state`), incidentID)
	if err != nil {
		return nil, fmt.Errorf("store: subscriber deliveries: %w", err)
	}
	defer rows.Close()
	out := map[herald.Channel]map[herald.DeliveryState]int{}
	for rows.Next() {
		var ch herald.Channel
		var st herald.DeliveryState
		var n int
		if err := rows.Scan(&ch, &st, &n); err != nil {
			return nil, fmt.Errorf("store: subscriber deliveries: %w", err)
		}
		if out[ch] == nil {
			out[ch] = map[herald.DeliveryState]int{}
		}
		out[ch][st] = n
	}
	return out, rows.Err()
}

// WebhookDelivered records that a webhook subscriber's endpoint took a
// notification: its count of failures in a row starts again.
func (s *Store) WebhookDelivered(ctx context.Context, subscriberID string) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE subscribers SET failures = 0 WHERE id = $1 AND failures <> 0`), subscriberID)
	if err != nil {
		return fmt.Errorf("store: webhook delivered: %w", err)
	}
	return nil
}

// WebhookGaveUp records that a notification to a webhook subscriber was
// given up (deliveryID, after its retries). At disableAfter failures in a
// row the subscription is disabled and notice(sub), a mail to its owner,
// is queued in the same transaction, once: a second call for the same
// delivery (a retried job) counts nothing twice. It reports whether this
// call disabled it.
func (s *Store) WebhookGaveUp(ctx context.Context, subscriberID, deliveryID string, disableAfter int,
	notice func(sub herald.Subscriber) herald.Delivery) (bool, error) {
	if disableAfter < 1 {
		disableAfter = herald.WebhookDisableAfter
	}
	disabled := false
	err := s.transact(ctx, false, func(tx *sql.Tx) error {
		ok, err := s.claimKey(ctx, tx, "webhook-failure/"+deliveryID, s.Now())
		if err != nil || !ok {
			return err
		}
		sub, err := s.subscriberRow(ctx, tx, s.q(selectSubscriber+forUpdate(s)), subscriberID)
		if errors.Is(err, herald.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if sub.State != herald.SubscriberConfirmed {
			return nil
		}
		now := s.Now()
		sub.Failures++
		if sub.Failures < disableAfter {
			_, err := tx.ExecContext(ctx, s.q(`UPDATE subscribers SET failures = $2 WHERE id = $1`), sub.ID, sub.Failures)
			if err != nil {
				return fmt.Errorf("store: webhook failure: %w", err)
			}
			return nil
		}
		before := subscriberAudit(sub)
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE subscribers SET failures = $2, state = 'disabled', disabled_at = $3,
			updated_at = $3 WHERE id = $1`), sub.ID, sub.Failures, now); err != nil {
			return fmt.Errorf("store: disable webhook: %w", err)
		}
		sub.State, sub.DisabledAt = herald.SubscriberDisabled, &now
		disabled = true
		if err := s.audit(ctx, tx, auditRecord{Actor: herald.EngineActor, Action: "subscriber.disable", Entity: "subscriber",
			EntityID: sub.ID, Before: before, After: subscriberAudit(sub)}); err != nil {
			return err
		}
		if sub.OwnerEmail == "" || notice == nil {
			return nil
		}
		d := notice(sub)
		d.Channel, d.Kind, d.Recipient = herald.ChannelEmail, herald.KindSubscriberNotice, sub.OwnerEmail
		d.SubscriberID, d.Key = sub.ID, "webhook-disabled/"+deliveryID
		_, err = s.writeDeliveries(ctx, tx, "", "", []herald.Delivery{d}, now)
		return err
	})
	return disabled, err
}
