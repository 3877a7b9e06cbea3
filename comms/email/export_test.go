package email

import "testing"

// IdleConns is how many idle connections c keeps.
func IdleConns(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}

// PeakConns is the most connections c had open at once.
func PeakConns(c *Client) int { return int(c.peak.Load()) }

// OnRelease makes f run whenever a Send releases its connection, until the
// test ends.
func OnRelease(t testing.TB, f func()) {
	testHookRelease = f
	t.Cleanup(func() { testHookRelease = nil })
}
