package smtptest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
)

// Part is one leaf of a message's MIME tree, its body decoded.
type Part struct {
	ContentType string // media type, lower case: text/plain
	Params      map[string]string
	Header      textproto.MIMEHeader
	Body        string // Content-Transfer-Encoding undone; charset left as sent
}

// Parts walks the message's MIME tree and returns its leaves in order: a
// multipart/alternative message gives its text/plain and text/html parts.
func (m Message) Parts() ([]Part, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return nil, fmt.Errorf("smtptest: parse message: %w", err)
	}
	var parts []Part
	err = walk(textproto.MIMEHeader(msg.Header), msg.Body, &parts, 0)
	return parts, err
}

// Part returns the decoded body of the first part of the given media type,
// such as "text/plain" or "text/html".
func (m Message) Part(mediaType string) (string, error) {
	parts, err := m.Parts()
	if err != nil {
		return "", err
	}
	for _, p := range parts {
		if p.ContentType == strings.ToLower(mediaType) {
			return p.Body, nil
		}
	}
	types := make([]string, len(parts))
	for i, p := range parts {
		types[i] = p.ContentType
	}
	return "", fmt.Errorf("smtptest: no %s part (parts: %v)", mediaType, types)
}

func walk(h textproto.MIMEHeader, body io.Reader, parts *[]Part, depth int) error {
	if depth > 10 {
		return errors.New("smtptest: MIME nesting too deep")
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("smtptest: Content-Type %q: %w", ct, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("smtptest: %s: %w", mt, err)
			}
			if err := walk(p.Header, p, parts, depth+1); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))); enc {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &newlineSkipper{body})
	case "", "7bit", "8bit", "binary":
	default:
		return fmt.Errorf("smtptest: unknown Content-Transfer-Encoding %q", enc)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("smtptest: decode %s part: %w", mt, err)
	}
	*parts = append(*parts, Part{ContentType: mt, Params: params, Header: h, Body: string(b)})
	return nil
}

// newlineSkipper drops CR and LF, which base64 bodies are wrapped with.
type newlineSkipper struct{ r io.Reader }

func (n *newlineSkipper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// decodeHeader undoes RFC 2047 encoded words (=?UTF-8?q?...?=), leaving the
// text as it is if it does not decode.
func decodeHeader(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// HeaderValue returns the named header field of the message, decoded.
func (m Message) HeaderValue(name string) string {
	return decodeHeader(m.Header.Get(name))
}
