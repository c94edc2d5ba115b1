package client_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A search finds a message 300 back in #general; its snippet marks the
// word that matched, and hostile content stays text. Picking the result
// loads the history back to it and scrolls it into view, marked, with its
// neighbours around it; the conversation stays whole (ids in order, no
// gap).
func TestBrowserSearchJumpsToMessage(t *testing.T) {
	needBrowser(t)
	contents := []string{`the <img src=x onerror="window.pwned=1"> needle is here`}
	for i := 1; i < 300; i++ {
		contents = append(contents, fmt.Sprintf("filler message %d", i))
	}
	start := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	times := make([]time.Time, len(contents))
	for i := range times {
		times[i] = start.Add(time.Duration(i) * time.Second)
	}
	path, ids := seedRoom(t, "general", "seeder", times, contents)
	s := startServer(t, "", path)
	alice := newPage(t, s.url(), "alice")
	alice.login("alice")
	alice.wait(shows("filler message 299"))
	if n := eval[int](alice, `document.querySelectorAll('#message-list .message').length`); n >= 300 {
		t.Fatalf("before the search: %d messages shown, want only the newest page", n)
	}

	alice.do(chromedp.SetValue(chromedp.ID("search-input"), "NEEDLE"), chromedp.Focus(chromedp.ID("search-input")))
	alice.enter()
	result := `#search-results button.search-result[data-id="` + ids[0] + `"]`
	alice.wait(`!document.querySelector('#search-panel').hidden && !!document.querySelector(` + js(result) + `)`)
	if got := eval[string](alice, `[...document.querySelectorAll('#search-results .search-snippet mark')].map((m) => m.textContent).join(',')`); got != "needle" {
		t.Errorf("marked words: got %q, want needle", got)
	}
	if got := eval[string](alice, `document.querySelector(`+js(result)+` + ' .search-snippet').textContent`); got != contents[0] {
		t.Errorf("snippet: got %q, want the content as text", got)
	}
	if n := eval[int](alice, `document.querySelectorAll('#search-panel img').length + (window.pwned ? 1 : 0)`); n != 0 {
		t.Errorf("the snippet's markup was parsed: %d", n)
	}
	if n := eval[int](alice, `document.querySelectorAll('#search-results li').length`); n != 1 {
		t.Errorf("results: got %d, want 1", n)
	}
	alice.screenshot("search.png")

	alice.click(result)
	target := `#message-list .message[data-id="` + ids[0] + `"]`
	alice.wait(`document.querySelector('#search-panel').hidden && !!document.querySelector(` + js(target+`.search-hit`) + `) && (() => {
		const r = document.querySelector(` + js(target) + `).getBoundingClientRect();
		const l = document.querySelector('#message-list').getBoundingClientRect();
		return r.top >= l.top && r.bottom <= l.bottom;
	})()`)
	alice.screenshot("search-jump.png")
	if got := eval[string](alice, `document.querySelector(`+js(target)+` + ' .msg-body').textContent`); got != contents[0] {
		t.Errorf("the message jumped to: got %q, want its content as text", got)
	}
	if n := eval[int](alice, `document.querySelectorAll('#message-list .message[data-id]').length`); n != 300 {
		t.Errorf("after the jump: %d messages held, want all 300 (no gap)", n)
	}
	alice.checkOrder()

	// Nothing matches; bad input is the server's clear refusal, not a crash.
	alice.do(chromedp.SetValue(chromedp.ID("search-input"), "nothinglikethis"), chromedp.Focus(chromedp.ID("search-input")))
	alice.enter()
	alice.wait(`document.querySelector('#search-status').textContent.startsWith('Nothing in your rooms matches') && !document.querySelector('#search-results li')`)
	alice.do(chromedp.SetValue(chromedp.ID("search-input"), `"" * ( )`), chromedp.Focus(chromedp.ID("search-input")))
	alice.enter()
	alice.wait(`document.querySelector('#search-status').textContent.includes('no word to search for')`)
	alice.do(chromedp.KeyEvent("\x1b"))
	alice.wait(`document.querySelector('#search-panel').hidden`)

	// On a phone the box fits in the header beside the title and buttons,
	// and the results cover the list, not the composer.
	alice.viewport(390, 844, true)
	alice.do(chromedp.SetValue(chromedp.ID("search-input"), "needle"), chromedp.Focus(chromedp.ID("search-input")))
	alice.enter()
	alice.wait(`!!document.querySelector(` + js(result) + `)`)
	if bad := eval[string](alice, `(() => {
		const h = document.querySelector('.chat-header');
		if (h.scrollWidth > h.clientWidth) return 'header overflows: ' + h.scrollWidth + ' > ' + h.clientWidth;
		const box = document.querySelector('#search-input').getBoundingClientRect();
		const title = document.querySelector('#conv-title').getBoundingClientRect();
		if (box.width < 80) return 'search box ' + box.width + ' px wide';
		if (title.right > box.left) return 'title under the search box';
		const panel = document.querySelector('#search-panel').getBoundingClientRect();
		const composer = document.querySelector('#composer').getBoundingClientRect();
		if (panel.bottom > composer.top) return 'results over the composer';
		return '';
	})()`); bad != "" {
		t.Errorf("phone layout: %s", bad)
	}
}

// With an account's private conversation open, the search looks through
// it, and picking a result opens the conversation at the message.
func TestBrowserSearchConversation(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	const pw = "correct horse battery"
	ann := newPage(t, s.url(), "Ann")
	ann.register("Ann", pw)
	ann.wait(accountChat("Ann"))
	ben := newPage(t, s.url(), "Ben")
	ben.register("Ben", pw)
	ben.wait(accountChat("Ben"))
	ann.send("/pm Ben the launch code is <b>1234</b>")
	ann.wait(`parley.state().currentDm === 'Ben' && ` + shows("the launch code is <b>1234</b>"))
	ann.sendOK("and nothing else")
	ben.wait(`!!document.querySelector('#dm-list li[data-key="ann"]')`)
	ben.click(`#dm-list li[data-key="ann"] button.dm-open`)
	ben.wait(`parley.state().currentDm === 'Ann' && ` + shows("and nothing else"))
	ben.click(`#room-list li[data-room="general"] button.room-open`)
	ben.wait(`parley.state().currentRoom === 'general'`)

	// In a room, the rooms are searched: the private message is not found.
	ben.do(chromedp.SetValue(chromedp.ID("search-input"), "launch"), chromedp.Focus(chromedp.ID("search-input")))
	ben.enter()
	ben.wait(`document.querySelector('#search-status').textContent.startsWith('Nothing in your rooms matches')`)

	ben.click(`#dm-list li[data-key="ann"] button.dm-open`)
	ben.wait(`parley.state().currentDm === 'Ann'`)
	ben.do(chromedp.SetValue(chromedp.ID("search-input"), "launch code"), chromedp.Focus(chromedp.ID("search-input")))
	ben.enter()
	result := `#search-results button.search-result[data-with="Ann"]`
	ben.wait(`!!document.querySelector(` + js(result) + `) && document.querySelector('#search-status').textContent.includes('your conversation with Ann')`)
	if got := eval[string](ben, `[...document.querySelectorAll('#search-results mark')].map((m) => m.textContent).join(',')`); got != "launch,code" {
		t.Errorf("marked words: got %q, want launch,code", got)
	}
	ben.click(`#room-list li[data-room="general"] button.room-open`)
	ben.wait(`parley.state().currentRoom === 'general'`)
	ben.click(result)
	ben.wait(`parley.state().currentDm === 'Ann' && [...document.querySelectorAll('#message-list .message.search-hit .msg-body')].map((b) => b.textContent).join() === 'the launch code is <b>1234</b>'`)
}
