package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"syscall"

	"github.com/kredete/herald/comms"
)

// ErrInvalidMessage means the message cannot be sent as given (no
// recipient, a bad address, a forbidden header); retrying will not help.
var ErrInvalidMessage = errors.New("invalid message")

// SMTPError is a command the server refused, with its reply. A 4xx reply is
// temporary and arrives wrapped in a *comms.TemporaryError; a 5xx reply is
// permanent.
type SMTPError struct {
	Command   string // greeting, EHLO, STARTTLS, AUTH, MAIL FROM, RCPT TO, DATA, end of DATA
	Recipient string // for RCPT TO
	Code      int    // e.g. 451, 550
	Message   string // the server's text, including any enhanced code (5.1.1)
}

func (e *SMTPError) Error() string {
	if e.Recipient != "" {
		return fmt.Sprintf("%s <%s>: %d %s", e.Command, e.Recipient, e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %d %s", e.Command, e.Code, e.Message)
}

// Temporary reports whether the reply was 4xx: worth trying again later.
func (e *SMTPError) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

// RecipientsError lists the recipients the server refused at RCPT TO. The
// message went to nobody: Send is all or nothing, so that a retry never
// repeats the message to the recipients that were accepted. It is temporary
// (wrapped in *comms.TemporaryError) only when every refusal was 4xx; with
// any 5xx, drop the refused addresses before sending again.
type RecipientsError struct {
	Failures []*SMTPError
	Total    int // recipients in the message
}

func (e *RecipientsError) Error() string {
	parts := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		parts[i] = fmt.Sprintf("<%s>: %d %s", f.Recipient, f.Code, f.Message)
	}
	return fmt.Sprintf("%d of %d recipients refused: %s", len(e.Failures), e.Total, strings.Join(parts, "; "))
}

// Unwrap gives errors.As access to each refusal.
func (e *RecipientsError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f
	}
	return errs
}

// Temporary reports whether every refusal was 4xx.
func (e *RecipientsError) Temporary() bool {
	for _, f := range e.Failures {
		if !f.Temporary() {
			return false
		}
	}
	return len(e.Failures) > 0
}

// smtpReply turns a server reply error into an *SMTPError, or returns nil
// when err holds no reply.
func smtpReply(command, rcpt string, err error) *SMTPError {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return nil
	}
	return &SMTPError{Command: command, Recipient: rcpt, Code: te.Code, Message: strings.TrimSpace(te.Msg)}
}

// classify wraps err for the engine: temporary failures (a 4xx reply, a
// refused or dropped connection, a timeout) in a *comms.TemporaryError,
// everything else as it is. ctx decides between a timeout (temporary) and a
// cancellation (neither: the caller gave up).
func classify(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	wrapped := fmt.Errorf("email: %s: %w", op, err)
	// A reply from the server speaks for itself, even if ctx ended since.
	if code := replyCode(err); code != 0 {
		if code >= 400 && code < 500 {
			return &comms.TemporaryError{Err: wrapped}
		}
		return wrapped
	}
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.Canceled) {
			return fmt.Errorf("email: %s: %w", op, cerr)
		}
		return &comms.TemporaryError{Err: fmt.Errorf("email: %s: %w (%w)", op, cerr, err)}
	}
	if temporary(err) {
		return &comms.TemporaryError{Err: wrapped}
	}
	return wrapped
}

// replyCode is the SMTP reply code err carries, 0 if none. A
// RecipientsError counts as 4xx only when every refusal was.
func replyCode(err error) int {
	var re *RecipientsError
	if errors.As(err, &re) {
		if re.Temporary() {
			return 450
		}
		return 550
	}
	var se *SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func temporary(err error) bool {
	// A certificate the server should not present, or a TLS policy the
	// server cannot meet, is a configuration problem: retrying will not fix
	// it.
	var (
		certErr     *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidErr  x509.CertificateInvalidError
		recordErr   tls.RecordHeaderError
	)
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) ||
		errors.As(err, &invalidErr) || errors.As(err, &recordErr) {
		return false
	}
	// DNS failures, "no such host" included, are retried: a resolver that
	// flaps must not drop an executive's email, and a misspelt host fails
	// every attempt until the engine gives up and says so.
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed):
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}
