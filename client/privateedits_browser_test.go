package client_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// Ann edits and deletes her own private messages to Ben with the same
// message menu as in a room (edit inline, delete with confirm); Ben's page
// sees both live and has no menu on her messages; a change Ben's page
// missed while its connection was muted comes with the conversation's
// catch-up once it reconnects; Ann's reloaded page shows the conversation
// as it is now (History{with}).
func TestBrowserPrivateEditAndDelete(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	annToken, benToken := registerAPI(t, s, "Ann"), registerAPI(t, s, "Ben")
	px := newProxy(t, s.addr)
	ann := newPage(t, s.url(), "Ann")
	ann.signIn("Ann", syncPW)
	ann.wait(accountChat("Ann"))
	ben := newPage(t, "http://"+px.addr()+"/", "Ben") // through the proxy
	ben.signIn("Ben", syncPW)
	ben.wait(accountChat("Ben"))

	ann.sendOK("/pm Ben helo ben")
	ann.wait(`parley.state().currentDm === 'Ben' && ` + shows("helo ben"))
	for _, text := range []string{"sent to the wrong person", "see you at 3"} {
		ann.sendOK(text)
		ann.wait(shows(text) + ` && !document.querySelector('#message-list .message.pending')`)
	}
	ben.wait(dmBadge("Ann") + ` === '3'`)
	ben.click(`#dm-list li[data-user="Ann"] .dm-open`)
	ben.wait(`parley.state().currentDm === 'Ann' && ` + shows("helo ben") + ` && ` + shows("sent to the wrong person") + ` && ` + shows("see you at 3"))
	if n := eval[int](ben, `document.querySelectorAll('#message-list .msg-actions button[data-action="edit"], #message-list .msg-actions button[data-action="delete"]').length`); n != 0 {
		t.Errorf("Ben's page: got %d edit menus on Ann's messages, want 0", n)
	}
	sel := func(text string) string {
		id := eval[string](ann, `[...document.querySelectorAll('#message-list .message.own')].find((m) => m.querySelector('.msg-body').textContent === `+js(text)+`).dataset.id`)
		return `#message-list .message[data-id="` + id + `"]`
	}
	first, second, third := sel("helo ben"), sel("sent to the wrong person"), sel("see you at 3")

	// Esc cancels; Enter saves.
	ann.act(first, "edit")
	ann.wait(`document.activeElement && document.activeElement.matches('.msg-edit-input') && document.activeElement.value === 'helo ben'`)
	ann.do(chromedp.KeyEvent("\x1b"))
	ann.wait(`!document.querySelector('.msg-editor') && ` + shows("helo ben"))
	ann.act(first, "edit")
	ann.wait(`document.activeElement && document.activeElement.matches('.msg-edit-input')`)
	ann.do(chromedp.SetValue(chromedp.CSS(`.msg-edit-input`), "hello Ben"), chromedp.Focus(chromedp.CSS(`.msg-edit-input`)), chromedp.KeyEvent("\r"))
	edited := shows("hello Ben") + ` && ` + msgCount("helo ben") + ` === 0 && document.querySelectorAll('#message-list .message.edited > .msg-edited').length === 1`
	ann.wait(edited + ` && !document.querySelector('.msg-editor')`)
	ben.wait(edited)

	// Delete asks first.
	ann.act(second, "delete")
	ann.click(second + ` .msg-confirm button[data-action="delete-yes"]`)
	deleted := msgCount("sent to the wrong person") + ` === 0 && document.querySelectorAll('#message-list .message.deleted').length === 1 &&
		document.querySelector('#message-list .message.deleted .msg-body').textContent === 'message deleted' &&
		!document.querySelector('#message-list .message.deleted .msg-actions')`
	ann.wait(deleted)
	ben.wait(deleted)

	// More than a page follows (from the two accounts' other connections,
	// two senders for the rate limit), so that a reconnect's newest page no
	// longer holds "see you at 3".
	annWS, benWS := dialAccount(t, s.addr, annToken), dialAccount(t, s.addr, benToken)
	for i := range 52 {
		if i%2 == 0 {
			annWS.pm("Ben", fmt.Sprintf("filler %02d", i))
		} else {
			benWS.pm("Ann", fmt.Sprintf("filler %02d", i))
		}
	}
	ben.wait(shows("filler 51"))
	ann.wait(shows("filler 51"))

	// Ben's page hears nothing while Ann edits "see you at 3"; once it is
	// back, the conversation's catch-up (History{with, since}) brings the
	// edit: the newest page does not hold that message.
	px.mute(true)
	ann.act(third, "edit")
	ann.wait(`document.activeElement && document.activeElement.matches('.msg-edit-input')`)
	ann.do(chromedp.SetValue(chromedp.CSS(`.msg-edit-input`), "see you at 4"), chromedp.Focus(chromedp.CSS(`.msg-edit-input`)), chromedp.KeyEvent("\r"))
	ann.wait(shows("see you at 4"))
	waitDB(t, s.dbPath, "see you at 4", 1)
	px.mute(false)
	px.cut()
	ben.wait(`parley.state().connected && ` + shows("see you at 4") + ` && ` + msgCount("see you at 3") + ` === 0 && ` + shows("hello Ben") +
		` && document.querySelectorAll('#message-list .message.edited').length === 2 && ` + deleted)
	ben.checkOrder()

	// Ann's reloaded page reads the conversation as it is now.
	ann.do(chromedp.Reload())
	ann.wait(accountChat("Ann"))
	ann.click(`#dm-list li[data-user="Ben"] .dm-open`)
	ann.wait(`parley.state().currentDm === 'Ben' && ` + shows("filler 51"))
	// The older page, as a reader scrolling up asks for it.
	ann.do(chromedp.Evaluate[chromedp.Void](`(() => { const l = document.querySelector('#message-list'); l.scrollTop = 0; l.dispatchEvent(new Event('scroll')); })()`))
	ann.wait(shows("see you at 4") + ` && ` + shows("hello Ben") + ` && ` + deleted + ` && document.querySelectorAll('#message-list .message.edited').length === 2`)
	ann.checkOrder()
}

// A guest edits a private message after the other guest renamed: the
// change names the conversation by the old name, and both pages still
// show it in theirs.
func TestBrowserGuestPrivateEditAfterRename(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice, bob := aliceAndBob(t, s)
	alice.click(`#member-list li[data-user="bob"] button`)
	alice.wait(`parley.state().currentDm === 'bob'`)
	alice.sendOK("helo bob")
	alice.wait(shows("helo bob") + ` && !!document.querySelector('#message-list .message.own[data-id]')`)
	bob.wait(dmBadge("alice") + ` === '1'`)
	bob.click(`#dm-list li[data-user="alice"] .dm-open`)
	bob.wait(`parley.state().currentDm === 'alice' && ` + shows("helo bob"))
	bob.sendOK("/nick bobby")
	alice.wait(`parley.state().currentDm === 'bobby'`)

	alice.act(`#message-list .message.own[data-id]`, "edit")
	alice.wait(`document.activeElement && document.activeElement.matches('.msg-edit-input')`)
	alice.do(chromedp.SetValue(chromedp.CSS(`.msg-edit-input`), "hello bobby"), chromedp.Focus(chromedp.CSS(`.msg-edit-input`)), chromedp.KeyEvent("\r"))
	edited := shows("hello bobby") + ` && ` + msgCount("helo bob") + ` === 0 && !!document.querySelector('#message-list .message.edited')`
	alice.wait(edited)
	bob.wait(edited)
}
