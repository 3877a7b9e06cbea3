package sms

import (
	"sort"
	"strings"
	"unicode"

	"github.com/kredete/herald"
)

// segments is herald.SMSSegments: the domain owns the counting rules.
func segments(s string) (chars, n int, unicode bool) { return herald.SMSSegments(s) }

// Fit returns body unchanged when it fits in maxSegments segments, and otherwise
// the longest prefix that fits once an ellipsis and suffix are added, cut
// after a whole word when one ends in the second half of what fits. The
// ellipsis is "..." for GSM-7 text (the single character … would turn the
// whole message into UCS-2 and halve its room) and "…" for text that is
// UCS-2 already. The cut falls between runes, so never inside a UTF-16
// surrogate pair, and not inside an emoji sequence, a flag or before a
// combining mark. truncated reports whether body was cut.
func Fit(body, suffix string, maxSegments int) (text string, truncated bool) {
	if _, n, _ := segments(body); n <= maxSegments {
		return body, false
	}
	runes := []rune(body)
	build := func(k int) string {
		kept := strings.TrimRightFunc(string(runes[:k]), func(r rune) bool {
			return unicode.IsSpace(r) || strings.ContainsRune(",;:-–—", r)
		})
		ellipsis := "..."
		if _, _, uni := segments(kept); uni {
			ellipsis = "…"
		}
		return kept + ellipsis + suffix
	}
	fits := func(k int) bool { _, n, _ := segments(build(k)); return n <= maxSegments }

	// The segment count grows with the prefix, so search for the longest
	// prefix that fits; k < len(runes) since the whole body does not.
	k := sort.Search(len(runes), func(k int) bool { return !fits(k) }) - 1
	for k > 0 && !fits(k) { // defensive: should the count ever not grow
		k--
	}
	if k <= 0 {
		return build(0), true
	}
	// Prefer to end on a whole word: runes[j] is the first rune dropped.
	for j := k; j >= k/2 && j > 0; j-- {
		if unicode.IsSpace(runes[j]) && strings.TrimSpace(string(runes[:j])) != "" {
			return build(j), true
		}
	}
	// One long word (a URL, text without spaces): cut inside it, but not
	// inside a character that takes several runes.
	for k > 0 && !cuttable(runes, k) {
		k--
	}
	return build(k), true
}

// cuttable reports whether runes may be cut before runes[k] without breaking
// what the reader sees as one character.
func cuttable(runes []rune, k int) bool {
	next, prev := runes[k], runes[k-1]
	switch {
	case unicode.In(next, unicode.Mn, unicode.Me, unicode.Mc): // combining marks
		return false
	case next == '\u200d' || prev == '\u200d': // zero-width joiner sequences
		return false
	case next >= '\ufe00' && next <= '\ufe0f': // variation selectors
		return false
	case next >= 0x1f3fb && next <= 0x1f3ff: // skin tones
		return false
	case next >= 0xe0020 && next <= 0xe007f: // tag sequences (subdivision flags)
		return false
	case isRegional(prev) && isRegional(next):
		// A flag is a pair of regional indicators: cut only between pairs.
		n := 0
		for i := k - 1; i >= 0 && isRegional(runes[i]); i-- {
			n++
		}
		return n%2 == 0
	}
	return true
}

func isRegional(r rune) bool { return r >= 0x1f1e6 && r <= 0x1f1ff }
