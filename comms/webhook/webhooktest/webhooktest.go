// Package webhooktest is a local webhook receiver for tests and benchmarks:
// it records every post, checks its signature as a subscriber would
// (herald.VerifyAutomation), and answers as the test tells it to: a status
// with headers, or nothing at all until the sender gives up.
package webhooktest

import (
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/kredete/herald"
)

// Loopback is the allow-list a webhook.Client needs to post to a Server
// (httptest listens on 127.0.0.1).
func Loopback() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// Request is one post the server received.
type Request struct {
	Path   string
	Header http.Header
	Body   []byte
	// SignatureErr is what herald.VerifyAutomation said of the signature
	// (nil when it matches the server's secret).
	SignatureErr error
}

// Server is a running receiver. Its URL is http://127.0.0.1:port, or
// https:// for NewTLS.
type Server struct {
	URL string
	// Requests carries the posts as they arrive (the first 4096; Count
	// counts all), so a test waits on it rather than sleeping.
	Requests chan Request

	srv    *httptest.Server
	secret string
	done   chan struct{}

	mu      sync.Mutex
	status  int
	header  http.Header
	hang    bool
	count   int
	secrets map[string]string // by path, for a server of many subscribers
	answers map[string]int    // by path
	byPath  map[string]int
}

// New starts a server that answers 204 and checks signatures with secret.
// It stops when the test ends.
func New(t testing.TB, secret string) *Server {
	return start(t, secret, false)
}

// NewTLS starts a server as New does, over TLS with httptest's
// certificate for 127.0.0.1 (CertPool trusts it): subscribers' URLs must
// be https.
func NewTLS(t testing.TB, secret string) *Server {
	return start(t, secret, true)
}

func start(t testing.TB, secret string, tls bool) *Server {
	s := &Server{Requests: make(chan Request, 4096), secret: secret, done: make(chan struct{}), status: http.StatusNoContent,
		secrets: map[string]string{}, answers: map[string]int{}, byPath: map[string]int{}}
	if tls {
		s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	} else {
		s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	}
	s.URL = s.srv.URL
	t.Cleanup(func() {
		close(s.done) // release hanging handlers, which Close waits for
		s.srv.Close()
	})
	return s
}

// CertPool trusts the server's certificate (NewTLS).
func (s *Server) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.srv.Certificate())
	return pool
}

// Secret sets the secret the posts to one path are checked with: one
// server stands for many subscribers, each with its own path and secret.
func (s *Server) Secret(path, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[path] = secret
}

// AnswerPath sets the status the posts to one path get, whatever Answer
// says: one subscriber's endpoint broken among many.
func (s *Server) AnswerPath(path string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[path] = status
}

// CountPath is how many posts one path has received.
func (s *Server) CountPath(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byPath[path]
}

// Answer sets the status and headers of the answers that follow.
func (s *Server) Answer(status int, header http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.header, s.hang = status, header, false
}

// Hang makes the posts that follow get no answer: the handler waits until
// the sender gives up (or the test ends).
func (s *Server) Hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = true
}

// Count is how many posts the server has received.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	s.count++
	s.byPath[r.URL.Path]++
	status, header, hang := s.status, s.header, s.hang
	secret, ok := s.secrets[r.URL.Path]
	if !ok {
		secret = s.secret
	}
	if st, ok := s.answers[r.URL.Path]; ok {
		status, header = st, nil
	}
	s.mu.Unlock()
	_, err := herald.VerifyAutomation([]string{secret}, r.Header.Get(herald.AutomationSignatureHeader),
		r.Header.Get(herald.AutomationTimestampHeader), body, time.Now())
	select {
	case s.Requests <- Request{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, SignatureErr: err}:
	default:
	}
	if hang {
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return
	}
	for k, vs := range header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(status)
}
