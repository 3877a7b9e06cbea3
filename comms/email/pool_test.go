package email_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald/comms"
	"github.com/kredete/herald/comms/email"
	"github.com/kredete/herald/comms/email/smtptest"
)

// newPooled is a Client of srv with opts, closed when the test ends.
func newPooled(t testing.TB, srv *smtptest.Server, opts ...email.Option) *email.Client {
	t.Helper()
	cfg, err := email.ParseURL(srv.URL())
	if err != nil {
		t.Fatalf("ParseURL: %v", err)
	}
	c, err := email.New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// numbered is message i, with its own Message-ID.
func numbered(i int, to ...string) email.Message {
	m := simple(to...)
	m.MessageID = fmt.Sprintf("m%d@kredete.com", i)
	return m
}

func send(t *testing.T, c *email.Client, m email.Message) {
	t.Helper()
	if _, err := c.Send(t.Context(), m); err != nil {
		t.Fatalf("Send %s: %v", m.MessageID, err)
	}
}

func conns(t *testing.T, srv *smtptest.Server, what string, cond func(smtptest.ConnStats) bool) smtptest.ConnStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := srv.WaitForConns(ctx, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return st
}

// once checks that the server has exactly the messages with these ids, each
// once.
func once(t *testing.T, srv *smtptest.Server, ids ...string) []smtptest.Message {
	t.Helper()
	msgs := waitFor(t, srv, len(ids))
	count := map[string]int{}
	for _, m := range msgs {
		count[m.Header.Get("Message-Id")]++
	}
	for _, id := range ids {
		if n := count["<"+id+">"]; n != 1 {
			t.Errorf("message %s arrived %d times; want once", id, n)
		}
	}
	if len(msgs) != len(ids) {
		t.Errorf("%d messages arrived; want %d", len(msgs), len(ids))
	}
	return msgs
}

func TestSequentialSendsShareAConnection(t *testing.T) {
	srv := smtptest.Start(t)
	c := newPooled(t, srv)
	for i := range 5 {
		send(t, c, numbered(i, "ada@example.com"))
	}
	once(t, srv, "m0@kredete.com", "m1@kredete.com", "m2@kredete.com", "m3@kredete.com", "m4@kredete.com")
	if st := srv.ConnStats(); st.Opened != 1 || st.Quit != 0 {
		t.Errorf("connections %+v; want 1 opened, none QUIT", st)
	}
	if n := email.IdleConns(c); n != 1 {
		t.Errorf("%d idle connections; want 1", n)
	}
}

func TestPoolingOff(t *testing.T) {
	srv := smtptest.Start(t)
	c := newPooled(t, srv, email.WithPool(0, 0, 0))
	for i := range 3 {
		send(t, c, numbered(i, "ada@example.com"))
	}
	once(t, srv, "m0@kredete.com", "m1@kredete.com", "m2@kredete.com")
	if st := srv.ConnStats(); st.Opened != 3 || st.Quit != 3 {
		t.Errorf("connections %+v; want 3 opened and QUIT", st)
	}
	if n := email.IdleConns(c); n != 0 {
		t.Errorf("%d idle connections with pooling off", n)
	}
}

func TestAConnectionCarriesAtMostMaxPerConnMessages(t *testing.T) {
	srv := smtptest.Start(t)
	c := newPooled(t, srv, email.WithPool(10, time.Minute, 3))
	var ids []string
	for i := range 7 {
		send(t, c, numbered(i, "ada@example.com"))
		ids = append(ids, fmt.Sprintf("m%d@kredete.com", i))
	}
	once(t, srv, ids...)
	// 3 + 3 + 1: the first two are QUIT after their third message.
	if st := srv.ConnStats(); st.Opened != 3 || st.Quit != 2 {
		t.Errorf("connections %+v; want 3 opened, 2 QUIT", st)
	}
	conns(t, srv, "one open connection", func(st smtptest.ConnStats) bool { return st.Open == 1 })
}

func TestIdleConnectionsExpire(t *testing.T) {
	srv := smtptest.Start(t)
	var (
		mu  sync.Mutex
		now = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	c := newPooled(t, srv, email.WithClock(clock), email.WithPool(10, 30*time.Second, 100))

	send(t, c, numbered(1, "ada@example.com"))
	advance(29 * time.Second)
	send(t, c, numbered(2, "ada@example.com"))
	if st := srv.ConnStats(); st.Opened != 1 {
		t.Fatalf("connections %+v; want the one reused after 29 s idle", st)
	}
	advance(30 * time.Second)
	send(t, c, numbered(3, "ada@example.com"))
	if st := srv.ConnStats(); st.Opened != 2 {
		t.Errorf("connections %+v; want a new one after 30 s idle", st)
	}
	// The expired one is closed, not left behind.
	conns(t, srv, "the expired connection closed", func(st smtptest.ConnStats) bool { return st.Open == 1 })
	once(t, srv, "m1@kredete.com", "m2@kredete.com", "m3@kredete.com")
}

// go-mail sets a connection's deadline once, when it connects: a Send on
// an idle connection sets its own.
func TestReusedConnectionGetsItsOwnDeadline(t *testing.T) {
	srv := smtptest.Start(t)
	cfg, err := email.ParseURL(srv.URL() + "&timeout=100ms")
	if err != nil {
		t.Fatal(err)
	}
	c, err := email.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send(t, c, numbered(1, "ada@example.com"))
	// Not waiting for a condition: the deadline is wall-clock time, and
	// this lets it pass.
	time.Sleep(200 * time.Millisecond)
	send(t, c, numbered(2, "ada@example.com"))
	if st := srv.ConnStats(); st.Opened != 1 {
		t.Errorf("connections %+v; want the first one reused", st)
	}
	once(t, srv, "m1@kredete.com", "m2@kredete.com")
}

func TestConnectionDroppedWhileIdleIsReplaced(t *testing.T) {
	srv := smtptest.Start(t)
	c := newPooled(t, srv)
	send(t, c, numbered(1, "ada@example.com"))
	srv.DropConnections()
	conns(t, srv, "the connection dropped", func(st smtptest.ConnStats) bool { return st.Open == 0 })

	send(t, c, numbered(2, "ada@example.com"))
	once(t, srv, "m1@kredete.com", "m2@kredete.com")
	if st := srv.ConnStats(); st.Opened != 2 {
		t.Errorf("connections %+v; want 2 opened", st)
	}
	// The new connection is pooled in turn.
	send(t, c, numbered(3, "ada@example.com"))
	if st := srv.ConnStats(); st.Opened != 2 {
		t.Errorf("connections %+v; want the new one reused", st)
	}
}

func TestMailFrom421OnAReusedConnectionIsRetried(t *testing.T) {
	srv := smtptest.Start(t)
	c := newPooled(t, srv)
	send(t, c, numbered(1, "ada@example.com"))
	srv.RejectNextMail(1, 421, "4.3.2 Service shutting down")
	send(t, c, numbered(2, "ada@example.com"))
	once(t, srv, "m1@kredete.com", "m2@kredete.com")
	if st := srv.ConnStats(); st.Opened != 2 {
		t.Errorf("connections %+v; want a second one for the retry", st)
	}
}

// Only a reused connection is worth a second try: a 421 on a new one is the
// server's answer.
func TestMailFrom421OnANewConnectionIsNotRetried(t *testing.T) {
	srv := smtptest.Start(t)
	c := newPooled(t, srv)
	srv.RejectNextMail(1, 421, "4.3.2 Service shutting down")
	_, err := c.Send(t.Context(), numbered(1, "ada@example.com"))
	var se *email.SMTPError
	if ok, _ := comms.Retryable(err); !ok || !errors.As(err, &se) || se.Code != 421 || se.Command != "MAIL FROM" {
		t.Fatalf("Send = %v; want a temporary 421 at MAIL FROM", err)
	}
	if st := srv.ConnStats(); st.Opened != 1 {
		t.Errorf("connections %+v; want 1", st)
	}
	if n := email.IdleConns(c); n != 0 {
		t.Errorf("%d idle connections; a 421 ends the connection", n)
	}
}

// A refusal of the sender is about the message, not the connection: no
// second try, and the connection is closed all the same.
func TestMailFromRefusalOnAReusedConnectionIsNotRetried(t *testing.T) {
	srv := smtptest.Start(t)
	c := newPooled(t, srv)
	send(t, c, numbered(1, "ada@example.com"))
	srv.RejectNextMail(1, 451, "4.7.1 Sender rate limited")
	_, err := c.Send(t.Context(), numbered(2, "ada@example.com"))
	var se *email.SMTPError
	if ok, _ := comms.Retryable(err); !ok || !errors.As(err, &se) || se.Code != 451 {
		t.Fatalf("Send = %v; want the temporary 451", err)
	}
	if st := srv.ConnStats(); st.Opened != 1 || st.Quit != 1 {
		t.Errorf("connections %+v; want the one, QUIT after the error", st)
	}
	send(t, c, numbered(3, "ada@example.com"))
	once(t, srv, "m1@kredete.com", "m3@kredete.com")
	if st := srv.ConnStats(); st.Opened != 2 {
		t.Errorf("connections %+v; want a new one after the error", st)
	}
}

func TestRefusedRecipientLeavesTheConnectionUsable(t *testing.T) {
	srv := smtptest.Start(t)
	c := newPooled(t, srv)
	srv.RejectRecipient("gone@example.com", 550, "5.1.1 No such user")
	_, err := c.Send(t.Context(), numbered(1, "ada@example.com", "gone@example.com"))
	var re *email.RecipientsError
	if !errors.As(err, &re) {
		t.Fatalf("Send = %v; want a RecipientsError", err)
	}
	if n := email.IdleConns(c); n != 1 {
		t.Fatalf("%d idle connections after a refused recipient; want 1", n)
	}
	send(t, c, numbered(2, "cfo@example.com"))
	got := once(t, srv, "m2@kredete.com")[0]
	// RSET dropped ada@example.com, accepted for the refused message.
	if strings.Join(got.To, ",") != "cfo@example.com" {
		t.Errorf("RCPT TO = %v; want cfo@example.com alone", got.To)
	}
	if st := srv.ConnStats(); st.Opened != 1 {
		t.Errorf("connections %+v; want 1", st)
	}
}

func TestRefusalAtEndOfDataClosesTheConnection(t *testing.T) {
	srv := smtptest.Start(t)
	c := newPooled(t, srv)
	send(t, c, numbered(1, "ada@example.com"))
	srv.RejectNextData(1, 451, "4.3.0 Queue full")
	if _, err := c.Send(t.Context(), numbered(2, "ada@example.com")); err == nil {
		t.Fatal("Send succeeded")
	}
	if st := srv.ConnStats(); st.Opened != 1 || st.Quit != 1 {
		t.Errorf("connections %+v; want the one QUIT, not retried", st)
	}
	send(t, c, numbered(3, "ada@example.com"))
	once(t, srv, "m1@kredete.com", "m3@kredete.com")
}

func TestCanceledSendClosesItsConnection(t *testing.T) {
	srv := smtptest.Start(t)
	c := newPooled(t, srv)
	send(t, c, numbered(1, "ada@example.com"))

	held, release := make(chan struct{}), make(chan struct{})
	srv.SetDataHook(func(m smtptest.Message) {
		if m.Header.Get("Message-Id") == "<m2@kredete.com>" {
			close(held)
			<-release
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Send(ctx, numbered(2, "ada@example.com"))
		errc <- err
	}()
	unblock := sync.OnceFunc(func() { close(release) })
	defer unblock()
	<-held
	cancel() // while the pooled connection waits for the answer to the data
	var err error
	select {
	case err = <-errc:
	case <-time.After(5 * time.Second): // the client's timeout is 30 s
		t.Fatal("Send did not return after its context was canceled")
	}
	unblock()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v; want context.Canceled", err)
	}
	if n := email.IdleConns(c); n != 0 {
		t.Errorf("%d idle connections after a canceled Send; want 0", n)
	}
	conns(t, srv, "the canceled Send's connection closed", func(st smtptest.ConnStats) bool { return st.Open == 0 })

	send(t, c, numbered(3, "ada@example.com"))
	if st := srv.ConnStats(); st.Opened != 2 {
		t.Errorf("connections %+v; want a new one after the cancellation", st)
	}
	// The server took message 2 before the cancellation: SMTP cannot take
	// it back.
	once(t, srv, "m1@kredete.com", "m2@kredete.com", "m3@kredete.com")
}

// A context that ends as the Send finishes has closed, or is closing, the
// socket: the connection must not go back to the pool.
func TestContextEndedAtReleaseKeepsTheConnectionOut(t *testing.T) {
	srv := smtptest.Start(t)
	c := newPooled(t, srv)
	ctx, cancel := context.WithCancel(t.Context())
	email.OnRelease(t, cancel)
	if _, err := c.Send(ctx, numbered(1, "ada@example.com")); err != nil {
		t.Fatal(err)
	}
	if n := email.IdleConns(c); n != 0 {
		t.Errorf("%d idle connections; the context ended before the release", n)
	}
	send(t, c, numbered(2, "ada@example.com"))
	if st := srv.ConnStats(); st.Opened != 2 {
		t.Errorf("connections %+v; want 2", st)
	}
	once(t, srv, "m1@kredete.com", "m2@kredete.com")
}

func TestConcurrentSends(t *testing.T) {
	const workers, each = 20, 10
	run := func(t *testing.T, c *email.Client, srv *smtptest.Server) {
		var wg sync.WaitGroup
		errc := make(chan error, workers*each)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					m := numbered(w*each+i, "ada@example.com")
					if _, err := c.Send(t.Context(), m); err != nil {
						errc <- fmt.Errorf("%s: %w", m.MessageID, err)
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
		ids := make([]string, workers*each)
		for i := range ids {
			ids[i] = fmt.Sprintf("m%d@kredete.com", i)
		}
		once(t, srv, ids...)
	}

	t.Run("default pool", func(t *testing.T) {
		srv := smtptest.Start(t)
		c := newPooled(t, srv)
		run(t, c, srv)
		// Each Send holds one connection; the pool keeps at most
		// DefaultMaxIdle more.
		if p := email.PeakConns(c); p > email.DefaultMaxIdle+workers {
			t.Errorf("%d connections open at once; want at most %d", p, email.DefaultMaxIdle+workers)
		}
		if n := email.IdleConns(c); n > email.DefaultMaxIdle {
			t.Errorf("%d idle connections; want at most %d", n, email.DefaultMaxIdle)
		}
		if st := srv.ConnStats(); st.Opened >= workers*each {
			t.Errorf("connections %+v: none reused", st)
		}
	})
	// With room for every worker's connection, none is ever closed, and a
	// Send dials only when every open connection is in use.
	t.Run("pool as large as the workers", func(t *testing.T) {
		srv := smtptest.Start(t)
		c := newPooled(t, srv, email.WithPool(workers, time.Minute, 1000))
		run(t, c, srv)
		if st := srv.ConnStats(); st.Opened > workers || st.Quit != 0 {
			t.Errorf("connections %+v; want at most %d opened, none QUIT", st, workers)
		}
	})
}

func TestCloseQuitsIdleConnections(t *testing.T) {
	srv := smtptest.Start(t)
	c := newPooled(t, srv)

	// Two Sends at once: two connections, both idle afterwards.
	var held sync.WaitGroup
	held.Add(2)
	release := make(chan struct{})
	srv.SetDataHook(func(smtptest.Message) { held.Done(); <-release })
	errc := make(chan error, 2)
	for i := range 2 {
		go func() {
			_, err := c.Send(t.Context(), numbered(i, "ada@example.com"))
			errc <- err
		}()
	}
	held.Wait()
	srv.SetDataHook(nil)
	close(release)
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if n := email.IdleConns(c); n != 2 {
		t.Fatalf("%d idle connections; want 2", n)
	}

	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if st := srv.ConnStats(); st.Quit != 2 {
		t.Errorf("connections %+v; want both QUIT", st)
	}
	conns(t, srv, "no open connection", func(st smtptest.ConnStats) bool { return st.Open == 0 })
	if n := email.IdleConns(c); n != 0 {
		t.Errorf("%d idle connections after Close", n)
	}

	// After Close, Send works, a connection each time.
	send(t, c, numbered(2, "ada@example.com"))
	if st := srv.ConnStats(); st.Opened != 3 || st.Quit != 3 {
		t.Errorf("connections %+v; want a third opened and QUIT", st)
	}
	if n := email.IdleConns(c); n != 0 {
		t.Errorf("%d idle connections after Close", n)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	once(t, srv, "m0@kredete.com", "m1@kredete.com", "m2@kredete.com")
}

func benchmarkSend(b *testing.B, opts ...email.Option) {
	srv := smtptest.Start(b)
	c := newPooled(b, srv, opts...)
	m := simple("ada@example.com")
	m.HTML = "<p>Hello.</p>"
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

// The server runs in the same process: its work is in the figures too.
func BenchmarkSendPooled(b *testing.B)   { benchmarkSend(b) }
func BenchmarkSendUnpooled(b *testing.B) { benchmarkSend(b, email.WithPool(0, 0, 0)) }
