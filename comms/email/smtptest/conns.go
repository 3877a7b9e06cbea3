package smtptest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
)

// ConnStats counts the server's connections.
type ConnStats struct {
	Opened int // connections accepted since Start
	Open   int // connections not yet closed by the server
	Quit   int // connections that ended with QUIT (answered 221)
}

// ConnStats returns the connection counts so far. Opened counts a
// connection before the server greets it, and Quit before the client reads
// the 221: a client that has its greeting, or its answer to QUIT, is
// counted. Open goes down a moment after the client sees the connection end:
// wait for it with WaitForConns.
func (s *Server) ConnStats() ConnStats {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.stats
}

// WaitForConns blocks until cond holds for the connection counts and
// returns them, or until ctx ends, returning the last counts and ctx's
// error.
func (s *Server) WaitForConns(ctx context.Context, cond func(ConnStats) bool) (ConnStats, error) {
	for {
		s.connMu.Lock()
		st, changed := s.stats, s.connChanged
		s.connMu.Unlock()
		if cond(st) {
			return st, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return st, fmt.Errorf("smtptest: connections %+v: %w", st, ctx.Err())
		}
	}
}

// DropConnections closes every open connection without a word, as a relay
// does with clients idle too long or when it restarts, and goes on
// listening. A client learns of it at its next command.
func (s *Server) DropConnections() {
	s.connMu.Lock()
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.connMu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// changedLocked wakes WaitForConns. s.connMu is held.
func (s *Server) changedLocked() {
	close(s.connChanged)
	s.connChanged = make(chan struct{})
}

// trackingListener counts the connections it accepts.
type trackingListener struct {
	net.Listener
	s *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s}
	s := l.s
	s.connMu.Lock()
	s.conns[tc] = struct{}{}
	s.stats.Opened++
	s.stats.Open++
	s.changedLocked()
	s.connMu.Unlock()
	return tc, nil
}

// trackedConn is one server connection. go-smtp writes each reply line
// with one Write, which is how it sees a QUIT answered (221) and a 421 to
// close the connection after.
type trackedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *trackedConn) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("221 ")) {
		c.s.connMu.Lock()
		c.s.stats.Quit++
		c.s.changedLocked()
		c.s.connMu.Unlock()
	}
	n, err := c.Conn.Write(p)
	if bytes.HasPrefix(p, []byte("421 ")) {
		_ = c.Close()
	}
	return n, err
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		s := c.s
		s.connMu.Lock()
		delete(s.conns, c)
		s.stats.Open--
		s.changedLocked()
		s.connMu.Unlock()
	})
	return err
}
