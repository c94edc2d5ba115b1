package client_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// Alice edits one of her messages inline (Esc cancels, Enter saves) and
// deletes another after confirming; bob, in another page, sees both
// changes live and has no buttons on her messages; carol, arriving later,
// sees them in History. Edited text is text, never markup.
func TestBrowserEditAndDelete(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice, bob := aliceAndBob(t, s)

	alice.sendOK("helo wrld")
	alice.sendOK("oops, wrong room")
	alice.wait(shows("helo wrld") + ` && ` + shows("oops, wrong room"))
	bob.wait(shows("helo wrld") + ` && ` + shows("oops, wrong room"))
	if n := eval[int](bob, `document.querySelectorAll('#message-list .msg-actions button[data-action="edit"], #message-list .msg-actions button[data-action="delete"]').length`); n != 0 {
		t.Errorf("bob's page: got %d edit menus on alice's messages, want 0", n)
	}
	idOf := func(text string) string {
		return eval[string](alice, `[...document.querySelectorAll('#message-list .message.own')].find((m) => m.querySelector('.msg-body').textContent === `+js(text)+`).dataset.id`)
	}
	first := `#message-list .message[data-id="` + idOf("helo wrld") + `"]`
	second := `#message-list .message[data-id="` + idOf("oops, wrong room") + `"]`

	// Esc cancels an edit: nothing is sent, the text stays.
	alice.act(first, "edit")
	alice.wait(`document.activeElement && document.activeElement.matches('.msg-edit-input') && document.activeElement.value === 'helo wrld'`)
	alice.do(chromedp.SendKeys(chromedp.CSS(`.msg-edit-input`), " never sent"), chromedp.KeyEvent("\x1b"))
	alice.wait(`!document.querySelector('.msg-editor') && ` + shows("helo wrld"))

	// Enter saves.
	edited := "hello <b>world</b>"
	alice.act(first, "edit")
	alice.wait(`document.activeElement && document.activeElement.matches('.msg-edit-input')`)
	alice.do(chromedp.SetValue(chromedp.CSS(`.msg-edit-input`), edited), chromedp.Focus(chromedp.CSS(`.msg-edit-input`)), chromedp.KeyEvent("\r"))
	for _, p := range []*page{alice, bob} {
		p.wait(shows(edited) + ` && !document.querySelector('.msg-editor') && !document.querySelector('#message-list .msg-body b') &&
			document.querySelectorAll('#message-list .message.edited > .msg-edited').length === 1 && ` + msgCount("helo wrld") + ` === 0`)
	}

	// Delete asks first; Cancel keeps it, Delete takes it back everywhere.
	alice.act(second, "delete")
	alice.click(second + ` .msg-confirm button[data-action="delete-no"]`)
	alice.wait(`!document.querySelector('.msg-confirm') && ` + shows("oops, wrong room"))
	alice.act(second, "delete")
	alice.click(second + ` .msg-confirm button[data-action="delete-yes"]`)
	deleted := msgCount("oops, wrong room") + ` === 0 && [...document.querySelectorAll('#message-list .message.deleted')].length === 1 &&
		document.querySelector('#message-list .message.deleted .msg-body').textContent === 'message deleted' &&
		!document.querySelector('#message-list .message.deleted .msg-actions')`
	alice.wait(deleted)
	bob.wait(deleted)
	alice.reveal(first, "edit")
	alice.do(chromedp.Focus(chromedp.CSS(first + ` .msg-actions button[data-action="edit"]`)))
	alice.screenshot("edit-delete.png")

	carol := newPage(t, s.url(), "carol")
	carol.login("carol")
	carol.wait(shows(edited) + ` && document.querySelectorAll('#message-list .message.edited').length === 1 && ` + deleted)
	carol.checkOrder()
}
