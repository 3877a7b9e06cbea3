package handlers_test

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// A small CSS selector engine for assertions on rendered pages, in the
// spirit of pkgsite's htmlcheck: compound selectors of a tag, #id, .class,
// [attr] and [attr=value] (value unquoted or "quoted", without spaces),
// joined by the descendant combinator (a space).

type compound struct {
	tag     string
	id      string
	classes []string
	attrs   [][2]string // name, value; value "\x00" means "present"
}

var partPattern = regexp.MustCompile(`^([a-z][a-z0-9]*|\*)?((?:#[\w-]+|\.[\w-]+|\[[\w-]+(?:=(?:"[^"]*"|[^\]]*))?\])*)$`)
var piecePattern = regexp.MustCompile(`#[\w-]+|\.[\w-]+|\[[\w-]+(?:=(?:"[^"]*"|[^\]]*))?\]`)

func parseSelector(t testing.TB, sel string) []compound {
	t.Helper()
	var out []compound
	for _, part := range strings.Fields(sel) {
		m := partPattern.FindStringSubmatch(part)
		if m == nil {
			t.Fatalf("selector %q: cannot parse %q", sel, part)
		}
		c := compound{tag: strings.TrimPrefix(m[1], "*")}
		for _, p := range piecePattern.FindAllString(m[2], -1) {
			switch p[0] {
			case '#':
				c.id = p[1:]
			case '.':
				c.classes = append(c.classes, p[1:])
			case '[':
				name, value, ok := strings.Cut(p[1:len(p)-1], "=")
				if !ok {
					value = "\x00"
				}
				c.attrs = append(c.attrs, [2]string{name, strings.Trim(value, `"`)})
			}
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatalf("empty selector")
	}
	return out
}

func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func (c compound) matches(n *html.Node) bool {
	if n.Type != html.ElementNode || (c.tag != "" && n.Data != c.tag) {
		return false
	}
	if c.id != "" {
		if v, _ := attr(n, "id"); v != c.id {
			return false
		}
	}
	if len(c.classes) > 0 {
		v, _ := attr(n, "class")
		have := strings.Fields(v)
		for _, want := range c.classes {
			found := false
			for _, h := range have {
				found = found || h == want
			}
			if !found {
				return false
			}
		}
	}
	for _, a := range c.attrs {
		v, ok := attr(n, a[0])
		if !ok || (a[1] != "\x00" && v != a[1]) {
			return false
		}
	}
	return true
}

// matchesChain reports whether n matches the last compound and its
// ancestors (below root) match the others in order.
func matchesChain(n, root *html.Node, chain []compound) bool {
	if !chain[len(chain)-1].matches(n) {
		return false
	}
	rest := chain[:len(chain)-1]
	for p := n.Parent; p != nil && len(rest) > 0 && p != root.Parent; p = p.Parent {
		if rest[len(rest)-1].matches(p) {
			rest = rest[:len(rest)-1]
		}
	}
	return len(rest) == 0
}

// queryAll returns the elements under root (root included) matching sel,
// in document order.
func queryAll(t testing.TB, root *html.Node, sel string) []*html.Node {
	t.Helper()
	chain := parseSelector(t, sel)
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if matchesChain(n, root, chain) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return out
}

// queryOne returns the only element matching sel, failing the test when
// there is none or more than one.
func queryOne(t testing.TB, root *html.Node, sel string) *html.Node {
	t.Helper()
	all := queryAll(t, root, sel)
	if len(all) != 1 {
		t.Fatalf("%q matches %d elements, want 1", sel, len(all))
	}
	return all[0]
}

// text is the element's text content with whitespace collapsed, as a
// reader sees it.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func texts(nodes []*html.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = text(n)
	}
	return out
}

// parseHTML parses a whole document.
func parseHTML(t testing.TB, body []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

// parseFragment parses an htmx fragment in the context of a <body>.
func parseFragment(t testing.TB, body []byte) *html.Node {
	t.Helper()
	ctx := &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body}
	nodes, err := html.ParseFragment(bytes.NewReader(body), ctx)
	if err != nil {
		t.Fatalf("parse fragment: %v", err)
	}
	root := &html.Node{Type: html.DocumentNode}
	for _, n := range nodes {
		root.AppendChild(n)
	}
	return root
}

func TestSelectorEngine(t *testing.T) {
	doc := parseHTML(t, []byte(`<main id="content"><ul class="a b" data-testid="list">
		<li data-testid="item" data-x="1">one</li><li data-testid="item">two <b>2</b></li></ul>
		<p data-testid="item">outside</p></main><main id="other"><li data-testid="item">no</li></main>`))
	for _, c := range []struct {
		sel  string
		want string
	}{
		{"[data-testid=item]", "[one two 2 outside no]"},
		{"main#content [data-testid=item]", "[one two 2 outside]"},
		{"ul.a.b li", "[one two 2]"},
		{"ul.c li", "[]"},
		{`li[data-x="1"]`, "[one]"},
		{"li[data-x]", "[one]"},
		{"#content ul [data-testid=item]", "[one two 2]"},
		{"#other ul li", "[]"},
	} {
		if got := fmt.Sprint(texts(queryAll(t, doc, c.sel))); got != c.want {
			t.Errorf("%s = %s, want %s", c.sel, got, c.want)
		}
	}
}
