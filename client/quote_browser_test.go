package client_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// Bob quotes alice's message: the composer gets its text as written
// behind "> " and "@alice ", focused; what he adds is sent with it, and
// both pages show the quote as a quote (markdown), its text as text.
func TestBrowserQuoteReply(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	alice, bob := aliceAndBob(t, s)

	alice.sendOK("is **this** <b>on</b>?")
	bob.wait(shows("is this <b>on</b>?"))
	bob.act(`#message-list .message[data-user="alice"]`, "quote")
	bob.wait(`document.activeElement === document.querySelector('#message-input') &&
		document.querySelector('#message-input').value === '> is **this** <b>on</b>?\n@alice '`)
	bob.do(chromedp.SendKeys(chromedp.ID("message-input"), "yes"), chromedp.KeyEvent("\r"))
	quoted := `(() => {
		const m = [...document.querySelectorAll('#message-list .message[data-user="bob"]')].pop();
		const q = m && m.querySelector('.msg-body blockquote.md-quote');
		return !!q && q.textContent === 'is this <b>on</b>?' && !q.querySelector('b:not(strong)') &&
			m.querySelector('.msg-body').textContent.endsWith('@alice yes');
	})()`
	bob.wait(quoted)
	alice.wait(quoted)
}
