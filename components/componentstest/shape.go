// Package componentstest checks rendered HTML in tests and fuzz targets:
// the shape of a page, to show that user text in it never became markup.
package componentstest

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/net/html"
)

// urlAttrs are the attributes a browser follows or runs as a URL.
var urlAttrs = map[string]bool{"href": true, "src": true, "action": true, "formaction": true, "poster": true,
	"cite": true, "srcset": true, "hx-get": true, "hx-post": true, "sse-connect": true}

// Shape is the markup of an HTML document: each tag opened or closed, with
// its attribute names in order, each comment and doctype, and "unsafe" on
// a URL attribute whose scheme runs script (javascript:, vbscript:,
// data:). Text and attribute values are left out, so two renderings of a
// page that differ only in the user text they show have the same shape,
// unless some of that text became a tag, an attribute or a script URL.
func Shape(doc string) ([]string, error) {
	var out []string
	z := html.NewTokenizer(strings.NewReader(doc))
	for {
		switch z.Next() {
		case html.ErrorToken:
			if errors.Is(z.Err(), io.EOF) {
				return out, nil
			}
			return out, z.Err()
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			s := "<" + tok.Data
			for _, a := range tok.Attr {
				s += " " + a.Key
				if urlAttrs[a.Key] && scriptURL(a.Val) {
					s += "=unsafe"
				}
			}
			out = append(out, s+">")
		case html.EndTagToken:
			out = append(out, "</"+z.Token().Data+">")
		case html.CommentToken:
			out = append(out, "<!-- -->")
		case html.DoctypeToken:
			out = append(out, "<!DOCTYPE>")
		}
	}
}

// scriptURL reports whether a URL attribute's value runs script, as a
// browser reads it: control characters and spaces ignored, any case.
func scriptURL(v string) bool {
	v = strings.ToLower(strings.Map(func(r rune) rune {
		if r <= ' ' {
			return -1
		}
		return r
	}, v))
	return strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "vbscript:") || strings.HasPrefix(v, "data:")
}

// Plain gives stand-ins for pieces of user text, to render a page's
// expected shape. Each piece keeps its whitespace (a page may split text
// into paragraphs and lines, and leaves out what is blank) and has each of
// its words replaced by a plain word: the same word for equal pieces,
// another for each different piece (a page may compare them).
func Plain(texts ...string) []string {
	words := map[string]string{}
	out := make([]string, len(texts))
	for i, s := range texts {
		w, ok := words[s]
		if !ok {
			w = "w" + strconv.Itoa(len(words))
			words[s] = w
		}
		var b strings.Builder
		inWord := false
		for _, r := range s {
			switch {
			case unicode.IsSpace(r):
				b.WriteRune(r)
				inWord = false
			case !inWord:
				b.WriteString(w)
				inWord = true
			}
		}
		out[i] = b.String()
	}
	return out
}

// SameShape fails the test when got, a page rendered with user text, does
// not have the shape of want, the same page rendered with Plain texts, and
// when any URL attribute of got runs script.
func SameShape(t testing.TB, what, got, want string) {
	t.Helper()
	gs, err := Shape(got)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	ws, err := Shape(want)
	if err != nil {
		t.Fatalf("%s (plain): %v", what, err)
	}
	for _, s := range gs {
		if strings.Contains(s, "=unsafe") {
			t.Fatalf("%s: a URL that runs script: %s\n%s", what, s, got)
		}
	}
	if i := firstDiff(gs, ws); i >= 0 {
		g, w := "(end)", "(end)"
		if i < len(gs) {
			g = gs[i]
		}
		if i < len(ws) {
			w = ws[i]
		}
		t.Fatalf("%s: user text changed the markup at tag %d: %s, want %s\n%s", what, i, g, w, got)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
