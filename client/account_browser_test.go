package client_test

// Accounts in the web client: the sign-in screen, a session shared by two
// tabs and kept across a reload, the account menu (change password, log
// out), and the names a guest may not take.

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"parley/internal/accounts"
	parley "parley/internal/server"
	"parley/transport"
)

// accountChat is a JS condition: the chat is open, signed in as the account name.
func accountChat(name string) string {
	return `parley.state().connected && parley.state().screen === 'chat' && parley.state().account && ` +
		`parley.state().username === ` + js(name) + ` && parley.state().currentRoom === 'general' && ` +
		`document.querySelector('#me-name').textContent === ` + js(name)
}

// textHas is a JS condition: the element sel's text contains part.
func textHas(sel, part string) string {
	return `(document.querySelector(` + js(sel) + `)?.textContent || '').includes(` + js(part) + `)`
}

// signIn fills the sign-in screen (in whichever mode it is) and submits it.
func (p *page) signIn(name, password string) {
	p.t.Helper()
	p.wait(`document.body.dataset.screen === 'signin' && !document.querySelector('#signin-submit').disabled`)
	p.do(
		chromedp.SetValue(chromedp.ID("signin-user"), name),
		chromedp.SetValue(chromedp.ID("signin-pass"), password),
		chromedp.Click(chromedp.ID("signin-submit")),
	)
}

// register switches the sign-in screen to "Create an account" and registers.
func (p *page) register(name, password string) {
	p.t.Helper()
	p.wait(`document.body.dataset.screen === 'signin'`)
	p.click("#signin-mode")
	p.wait(`document.querySelector('#signin-title').textContent === 'Create an account'`)
	p.signIn(name, password)
}

// guestName continues as a guest and asks for name on the name screen.
func (p *page) guestName(name string) {
	p.t.Helper()
	p.wait(`document.body.dataset.screen === 'name' && !document.querySelector('#name-submit').disabled`)
	p.do(
		chromedp.SetValue(chromedp.ID("name-input"), name),
		chromedp.Click(chromedp.ID("name-submit")),
	)
}

func TestBrowserAccounts(t *testing.T) {
	s := startServer(t, "", "")
	const pw, newPW = "correct horse battery", "staple battery horse"

	ann := newPage(t, s.url(), "Ann")
	ann.register("Ann", pw)
	ann.wait(accountChat("Ann"))
	ann.wait(`!document.querySelector('#logout-button').hidden && !document.querySelector('#password-button').hidden && ` +
		`document.querySelector('#rename-button').hidden`)

	// A second tab of the same browser shares the cookie: signed in at once.
	ann2 := ann.secondTab(s.url(), "Ann (tab 2)")
	ann2.wait(accountChat("Ann"))

	bob := newPage(t, s.url(), "bob")
	bob.login("bob")
	bob.sendOK("hello both tabs")
	ann.wait(shows("hello both tabs"))
	ann2.wait(shows("hello both tabs"))
	ann.sendOK("ann here")
	ann2.wait(shows("ann here"))
	bob.wait(shows("ann here"))
	bob.wait(`[...document.querySelectorAll('#member-list li[data-user]')].filter((li) => li.dataset.user === 'Ann').length === 1`)

	// An account's name is fixed.
	ann.send("/nick Annie")
	ann.wait(`[...document.querySelectorAll('#message-list .system-line.error')].some((e) => e.textContent.includes('cannot be changed'))`)
	if got := eval[string](ann, `parley.state().username`); got != "Ann" {
		t.Errorf("after /nick: got username %q, want Ann", got)
	}

	// A reload keeps the account signed in.
	ann2.do(chromedp.Reload())
	ann2.wait(accountChat("Ann"))

	// A guest may not take the account's name, a look-alike of a connected
	// name, or a reserved name, and is told which in plain words.
	cat := newPage(t, s.url(), "cat")
	cat.wait(`document.body.dataset.screen === 'signin'`)
	cat.click("#guest-button")
	cat.guestName("ANN")
	cat.wait(textHas("#name-error", "belongs to an account or looks like a name in use"))
	cat.wait(`document.querySelector('#name-input').getAttribute('aria-invalid') === 'true'`)
	cat.guestName("b0b")
	cat.wait(textHas("#name-error", "“b0b” is taken: it belongs to an account or looks like a name in use"))
	cat.guestName("admin")
	cat.wait(textHas("#name-error", "“admin” is reserved"))
	cat.guestName("cat")
	cat.wait(`parley.state().connected && parley.state().screen === 'chat' && parley.state().username === 'cat' && !parley.state().account`)

	// A wrong password is said next to the password field.
	dan := newPage(t, s.url(), "dan")
	dan.signIn("ann", "not the password")
	dan.wait(textHas("#signin-pass-error", "do not match"))
	dan.wait(`document.querySelector('#signin-pass').getAttribute('aria-invalid') === 'true' && document.body.dataset.screen === 'signin'`)
	// Registering a taken name is said next to the name field.
	dan.register("anN", pw)
	dan.wait(textHas("#signin-user-error", "already belongs to an account"))

	// Change password: a wrong current password, then the right one.
	ann.click("#password-button")
	ann.wait(`document.querySelector('#password-dialog').open`)
	ann.do(
		chromedp.SetValue(chromedp.ID("password-old"), "wrong wrong"),
		chromedp.SetValue(chromedp.ID("password-new"), newPW),
		chromedp.Click(chromedp.ID("password-submit")),
	)
	ann.wait(textHas("#password-old-error", "not your current password"))
	ann.do(
		chromedp.SetValue(chromedp.ID("password-old"), pw),
		chromedp.Click(chromedp.ID("password-submit")),
	)
	ann.wait(`!document.querySelector('#password-dialog').open && ` +
		`[...document.querySelectorAll('#message-list .system-line')].some((e) => e.textContent.includes('password was changed'))`)

	// The new password signs in elsewhere: a session of its own.
	dan.click("#signin-mode") // back from "Create an account" to "Sign in"
	dan.wait(`document.querySelector('#signin-title').textContent === 'Sign in'`)
	dan.signIn("ann", newPW)
	dan.wait(accountChat("Ann"))

	// Log out in one tab: both tabs of that session are signed out, and
	// neither reconnects; the other session stays.
	ann.click("#logout-button")
	ann.wait(`document.body.dataset.screen === 'signin' && ` + textHas("#signin-note", "logged out"))
	ann2.wait(`document.body.dataset.screen === 'signin' && ` + textHas("#signin-note", "signed out"))
	for _, p := range []*page{ann, ann2} {
		if open := eval[bool](p, `parley.state().socketOpen || parley.state().connected`); open {
			t.Errorf("%s: signed out but connected", p.name)
		}
	}
	ann.do(chromedp.Reload())
	ann.wait(`document.body.dataset.screen === 'signin' && !parley.state().socketOpen`)
	bob.sendOK("still here")
	dan.wait(shows("still here"))
	if got := eval[bool](dan, `parley.state().account`); !got {
		t.Errorf("dan's session after ann's logout: got account %v, want true", got)
	}
}

// Without guests, the sign-in screen says so and the account flow works.
func TestBrowserNoGuests(t *testing.T) {
	s := startServerConfig(t, "", parley.Config{Transport: transport.Options{NoGuests: true}})
	eve := newPage(t, s.url(), "eve")
	eve.setServerDown(true) // the guest's upgrade is refused on purpose: its failed connects are expected
	eve.wait(`document.body.dataset.screen === 'signin'`)
	eve.click("#guest-button")
	eve.wait(`document.body.dataset.screen === 'signin' && document.querySelector('#guest-button').disabled && ` +
		textHas("#signin-note", "does not allow guests"))
	eve.register("eve", "eve's long password")
	eve.wait(accountChat("eve"))
}

// The login limit is said next to the form, with how long to wait.
func TestBrowserLoginLimit(t *testing.T) {
	s := startServerConfig(t, "", parley.Config{Accounts: accounts.Config{
		FailuresPerAccount: accounts.Limit{Burst: 1, Every: time.Hour},
	}})
	p := newPage(t, s.url(), "guesser")
	p.signIn("nobody", "a wrong password")
	p.wait(textHas("#signin-pass-error", "do not match"))
	p.signIn("nobody", "another wrong password")
	p.wait(textHas("#signin-error", "Too many attempts. Try again in ") + ` && ` + textHas("#signin-error", "minutes."))
}
