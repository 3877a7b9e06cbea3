package main

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/html"
)

// form is an HTML form read the way a browser submits it: the console
// client fills the forms Herald serves instead of writing requests by
// hand, so a renamed or removed field fails the run rather than being
// silently posted.
type form struct {
	action string
	values url.Values          // what the browser would send as the page stands
	fields map[string]bool     // every named control, sent or not
	ticks  map[string][]string // enabled checkboxes: name → their values
	opts   map[string][]string // selects: name → their options' values
	submit map[string][]string // submit buttons: name → their values
}

// findForm returns the first form in page whose attribute key is val.
func findForm(page []byte, key, val string) (*form, error) {
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		return nil, err
	}
	var found *html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if found != nil {
			return
		}
		if n.Type == html.ElementNode && n.Data == "form" && attr(n, key) == val {
			found = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if found == nil {
		return nil, fmt.Errorf("no form with %s=%q on the page", key, val)
	}
	f := &form{action: attr(found, "action"), values: url.Values{}, fields: map[string]bool{},
		ticks: map[string][]string{}, opts: map[string][]string{}, submit: map[string][]string{}}
	f.read(found, false)
	return f, nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

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
	return b.String()
}

// read collects the controls under n as HTML's form submission does:
// disabled controls (also inside a disabled fieldset) are left out, a
// checkbox counts when checked, a select sends its selected option (else
// its first), a textarea its text.
func (f *form) read(n *html.Node, disabled bool) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode {
			continue
		}
		off := disabled || hasAttr(c, "disabled")
		name := attr(c, "name")
		switch c.Data {
		case "fieldset":
			f.read(c, off)
			continue
		case "input":
			if name == "" {
				continue
			}
			f.fields[name] = true
			typ := strings.ToLower(attr(c, "type"))
			v := attr(c, "value")
			switch typ {
			case "checkbox", "radio":
				if v == "" && !hasAttr(c, "value") {
					v = "on"
				}
				if !off {
					f.ticks[name] = append(f.ticks[name], v)
					if hasAttr(c, "checked") {
						f.values.Add(name, v)
					}
				}
			case "submit", "image":
				if !off {
					f.submit[name] = append(f.submit[name], v)
				}
			case "button", "reset", "file":
			default:
				if !off {
					f.values.Add(name, v)
				}
			}
		case "button":
			if name != "" && !off && (attr(c, "type") == "" || attr(c, "type") == "submit") {
				f.fields[name] = true
				f.submit[name] = append(f.submit[name], attr(c, "value"))
			}
		case "select":
			if name == "" {
				continue
			}
			f.fields[name] = true
			var first, chosen *string
			var walk func(*html.Node)
			walk = func(o *html.Node) {
				for x := o.FirstChild; x != nil; x = x.NextSibling {
					if x.Type != html.ElementNode {
						continue
					}
					if x.Data == "optgroup" {
						walk(x)
						continue
					}
					if x.Data != "option" {
						continue
					}
					v := attr(x, "value")
					if !hasAttr(x, "value") {
						v = strings.TrimSpace(text(x))
					}
					f.opts[name] = append(f.opts[name], v)
					if first == nil {
						first = &v
					}
					if hasAttr(x, "selected") && chosen == nil {
						chosen = &v
					}
				}
			}
			walk(c)
			if chosen == nil {
				chosen = first
			}
			if !off && chosen != nil {
				f.values.Set(name, *chosen)
			}
			continue
		case "textarea":
			if name != "" {
				f.fields[name] = true
				if !off {
					f.values.Set(name, text(c))
				}
			}
			continue
		}
		f.read(c, off)
	}
}

// set types v into the text control name.
func (f *form) set(name, v string) error {
	if !f.fields[name] || f.opts[name] != nil || f.ticks[name] != nil {
		return fmt.Errorf("form %s: no text field %q", f.action, name)
	}
	f.values.Set(name, v)
	return nil
}

// choose picks option v of the select name.
func (f *form) choose(name, v string) error {
	if !slices.Contains(f.opts[name], v) {
		return fmt.Errorf("form %s: select %q has no option %q (options: %v)", f.action, name, v, f.opts[name])
	}
	f.values.Set(name, v)
	return nil
}

// tickOnly leaves exactly the checkboxes name=vs ticked.
func (f *form) tickOnly(name string, vs ...string) error {
	for _, v := range vs {
		if !slices.Contains(f.ticks[name], v) {
			return fmt.Errorf("form %s: no enabled checkbox %s=%q (there are %v)", f.action, name, v, f.ticks[name])
		}
	}
	f.values[name] = vs
	return nil
}

// press adds the submit button name=v that the user pressed.
func (f *form) press(name, v string) error {
	if !slices.Contains(f.submit[name], v) {
		return fmt.Errorf("form %s: no submit button %s=%q", f.action, name, v)
	}
	f.values.Set(name, v)
	return nil
}

// selects names the form's selects whose name starts with prefix.
func (f *form) selects(prefix string) []string {
	var out []string
	for name := range f.opts {
		if strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
