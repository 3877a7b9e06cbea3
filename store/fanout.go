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
	selectFanout     = `SELECT incident_id, update_id, channel, event, cursor, queued, state FROM fanouts WHERE id = $1`
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
		if ch == herald.SubscriberWebhook {
			continue // webhook subscribers are told by the webhook adapter's fan-out (next)
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(anyConfirmed), ch).Scan(&n); err != nil {
			return fmt.Errorf("store: fan-out: %w", err)
		}
		if n == 0 {
			continue
		}
		id := newID()
		res, err := tx.ExecContext(ctx, s.q(insertFanout), id, in.ID, up.ID, ch, ev, now)
		if err != nil {
			return fmt.Errorf("store: fan-out: %w", err)
		}
		if k, _ := res.RowsAffected(); k == 1 {
			jobs = append(jobs, river.InsertManyParams{Args: fanoutArgs{FanoutID: id}, InsertOpts: &river.InsertOpts{Queue: subscriberQueue}})
		}
	}
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
	f, err := s.FanoutState(ctx, id)
	if err != nil || f.Done {
		return f.Done, err
	}
	list, err := s.loadIncidents(ctx, s.db, `id = $1`, f.IncidentID)
	if err != nil {
		return false, err
	}
	if len(list) == 0 {
		return true, nil // the incident is gone
	}
	subs, err := s.ConfirmedSubscribersFor(ctx, list[0], f.Channel, f.Cursor, size)
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
				res, err := tx.ExecContext(ctx, s.q(s.deliverySeq(insertDelivery)), did, f.IncidentID, nil, "", ch,
					herald.KindSubscriber, sub.Address, "", "", "sub/"+f.UpdateID+"/"+string(ch)+"/"+sub.ID, "", nil, now, sub.ID, f.UpdateID)
				if err != nil {
					return fmt.Errorf("store: fan-out delivery: %w", err)
				}
				if n, _ := res.RowsAffected(); n == 1 {
					ids = append(ids, did)
				}
			}
			// In the subscribers' queue, fan-out jobs (priority 1) go
			// first, then texts, then mails: a long email fan-out never
			// holds up the next update's fan-out or its SMS.
			priority := 3
			if f.Channel == herald.SubscriberSMS {
				priority = 2
			}
			if err := s.enqueueIn(ctx, tx, ids, subscriberQueue, priority); err != nil {
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
	return s.subscriberRow(ctx, s.db, s.q(selectSubscriber), id)
}

// fanoutWorker writes a fan-out's deliveries a page at a time. It stops
// after a while and asks to be run again, so one huge fan-out neither
// holds a worker nor outlives the job timeout; each page is durable.
type fanoutWorker struct {
	river.WorkerDefaults[fanoutArgs]
	s        *Store
	pageSize int
}

func (w *fanoutWorker) Work(ctx context.Context, job *river.Job[fanoutArgs]) error {
	began := time.Now()
	for time.Since(began) < 20*time.Second {
		done, err := w.s.FanoutPage(ctx, job.Args.FanoutID, w.pageSize)
		if err != nil || done {
			return err
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
