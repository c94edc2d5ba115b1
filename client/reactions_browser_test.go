package client_test

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// typeText types text into the composer, key by key, without sending it.
func (p *page) typeText(text string) {
	p.t.Helper()
	p.do(chromedp.Focus(chromedp.ID("message-input")), chromedp.SendKeys(chromedp.ID("message-input"), text))
}

// chip is a JS expression: the reaction chip of emoji on the message with
// body text, or null.
func chip(text, emoji string) string {
	return `([...document.querySelectorAll('#message-list .message')].find((m) => m.querySelector('.msg-body').textContent === ` + js(text) +
		`)?.querySelector('.reaction-chip[data-emoji=` + js(emoji) + `]') ?? null)`
}

// chipIs is a JS condition: the chip shows count and is pressed (mine) or not.
func chipIs(text, emoji, count string, pressed bool) string {
	p := "false"
	if pressed {
		p = "true"
	}
	return `((c) => !!c && c.querySelector('.reaction-count').textContent === ` + js(count) + ` && c.getAttribute('aria-pressed') === '` + p + `')(` + chip(text, emoji) + `)`
}

// Bob reacts from the picker; both pages show the chip, pressed only on
// his; alice adds hers by clicking the chip, bob takes his back; carol,
// arriving later, sees the count from History, not pressed.
func TestBrowserReactions(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice, bob := aliceAndBob(t, s)
	alice.sendOK("react to this")
	bob.wait(shows("react to this"))

	msg := `#message-list .message[data-user="alice"]`
	bob.act(msg, "react")
	bob.wait(`document.activeElement && document.activeElement.matches('.react-picker button[data-action="react-pick"]') &&
		document.querySelectorAll('.react-picker .react-pick').length === 8`)
	bob.click(msg + ` .react-picker button[data-emoji="🎉"]`)
	bob.wait(`!document.querySelector('.react-picker') && ` + chipIs("react to this", "🎉", "1", true))
	alice.wait(chipIs("react to this", "🎉", "1", false))

	alice.click(msg + ` .reaction-chip[data-emoji="🎉"]`)
	alice.wait(chipIs("react to this", "🎉", "2", true))
	bob.wait(chipIs("react to this", "🎉", "2", true))
	bob.click(msg + ` .reaction-chip[data-emoji="🎉"]`)
	bob.wait(chipIs("react to this", "🎉", "1", false))
	alice.wait(chipIs("react to this", "🎉", "1", true))
	alice.screenshot("reactions.png")

	carol := newPage(t, s.url(), "carol")
	carol.login("carol")
	carol.wait(shows("react to this") + ` && ` + chipIs("react to this", "🎉", "1", false))
}

// While alice types, bob sees "alice is typing…" under his composer; her
// message ends it; typing never makes a room unread.
func TestBrowserTyping(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice, bob := aliceAndBob(t, s)

	alice.typeText("hello the")
	typing := `(p => !p.hidden && p.textContent === 'alice is typing…')(document.querySelector('#typing-indicator'))`
	bob.wait(typing)
	alice.wait(`document.querySelector('#typing-indicator').hidden`) // never her own
	alice.enter()
	bob.wait(shows("hello the") + ` && document.querySelector('#typing-indicator').hidden`)

	// In another room, bob hears of her typing in #general, and it makes
	// nothing unread there. Her page sends one Typing per 3 s, and the
	// server relays one per 3 s: she types until bob has heard.
	bob.click(`#room-list li[data-room="random"] .room-open`)
	bob.wait(`parley.state().currentRoom === 'random'`)
	heard := `parley.state().typing.includes('room:general/alice')`
	for i := 0; !eval[bool](bob, heard); i++ {
		if i == 60 {
			t.Fatalf("bob never heard alice typing in #general again: %s", bob.stateJSON())
		}
		alice.typeText("x")
		time.Sleep(250 * time.Millisecond)
	}
	if eval[bool](bob, `!!document.querySelector('#room-list li[data-room="general"] .unread-badge') || !document.querySelector('#typing-indicator').hidden`) {
		t.Errorf("bob, in #random: got an unread badge on #general or a typing line, want neither from typing")
	}
	alice.enter()
	bob.wait(`document.querySelector('#room-list li[data-room="general"] .unread-badge')?.textContent === '1'`)
}

// A message that mentions bob: his #general (he is elsewhere) gets a
// mention badge; opening it clears the badge and shows the message marked
// and the @bob highlighted; alice's page highlights the name, not as hers.
func TestBrowserMentionHighlight(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice, bob := aliceAndBob(t, s)
	bob.click(`#room-list li[data-room="random"] .room-open`)
	bob.wait(`parley.state().currentRoom === 'random'`)

	alice.sendOK("hi @bob, see <this> and @nobody")
	badge := `#room-list li[data-room="general"] .mention-badge`
	bob.wait(`document.querySelector(` + js(badge) + `)?.textContent === '@1' &&
		/1 mention/.test(document.querySelector('#room-list li[data-room="general"] .room-open .sr-text').textContent)`)
	bob.click(`#room-list li[data-room="general"] .room-open`)
	marked := `(m => !!m && m.classList.contains('mentions-me') && m.querySelector('.msg-body .mention-me')?.textContent === '@bob' &&
		m.querySelector('.msg-body').textContent === 'hi @bob, see <this> and @nobody' && !m.querySelector('.msg-body .mention:not(.mention-me)'))(` +
		`document.querySelector('#message-list .message[data-user="alice"]'))`
	bob.wait(`parley.state().currentRoom === 'general' && !document.querySelector(` + js(badge) + `) && ` + marked)
	alice.wait(`(m => !!m && !m.classList.contains('mentions-me') && m.querySelector('.msg-body .mention')?.textContent === '@bob' &&
		!m.querySelector('.mention-me'))(document.querySelector('#message-list .message.own'))`)
	bob.screenshot("mention.png")
}

// An account away from #general is told of a mention there live, and,
// after a reload, by the server's Unread: the badge is the same.
func TestBrowserAccountMentionBadge(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	ann := newPage(t, s.url(), "ann")
	ann.register("Ann", "ann's long password")
	ann.wait(accountChat("Ann"))
	bob := newPage(t, s.url(), "bob")
	bob.login("bob")
	ann.click(`#room-list li[data-room="random"] .room-open`)
	ann.wait(`parley.state().currentRoom === 'random'`)

	bob.sendOK("@ann have a look")
	badge := `document.querySelector('#room-list li[data-room="general"] .mention-badge')?.textContent === '@1'`
	ann.wait(badge)
	ann.do(chromedp.Reload())
	ann.wait(`parley.state().connected && parley.state().currentRoom === 'random' && ` + badge)
	ann.click(`#room-list li[data-room="general"] .room-open`)
	ann.wait(`!document.querySelector('#room-list .mention-badge') && !!document.querySelector('#message-list .message.mentions-me')`)
}
