package client_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// A realistic conversation (a few people with accounts, a link, a code
// block, reactions, a mention of the reader with a screenshot attached,
// DMs kept by the server with their last message, unread badges) looks
// right in light and dark, at desktop and phone width. With
// PARLEY_SCREENSHOTS=DIR the test also writes what its browser sees:
//
//	PARLEY_SCREENSHOTS=$PWD/docs/img go test -run 'Screenshot|SearchJumps' ./client/
//
// (the README's pictures; the reactions' emoji need a colour emoji font,
// Debian's fonts-noto-color-emoji, or they are drawn as boxes).
func TestBrowserScreenshots(t *testing.T) {
	needBrowser(t)
	s := startServer(t, "", "")
	jonasToken, mayaToken := registerAPI(t, s, "jonas"), registerAPI(t, s, "maya")
	alex := dialAccount(t, s.addr, registerAPI(t, s, "alex"))
	priya := dialAccount(t, s.addr, registerAPI(t, s, "priya"))
	jonas := dialAccount(t, s.addr, jonasToken)
	for _, u := range []*wsUser{alex, priya, jonas} {
		u.join("general")
	}
	alex.join("random")
	alex.say("general", "Morning all! Standup in ten minutes, I'll share the board.")
	priya.say("general", "I pushed the reconnect fix: pending messages are resent with the **same nonce** now, so nothing shows up twice.")
	review := priya.say("general", "Review here: https://example.com/parley/pull/42")
	jonas.say("general", "Nice. Does it survive a server restart in the middle of a send?")
	alex.say("general", "Tried it twice, the message arrived exactly once:\n```\n$ go test -run Reconnect ./client/\nok  \tparley/client\t4.21s\n```")

	maya := newPage(t, s.url(), "maya")
	maya.signIn("maya", syncPW)
	maya.wait(accountChat("maya") + ` && document.querySelectorAll('#message-list .message').length === 5`)
	// An earlier private chat with priya, already read.
	maya.click(`#member-list li[data-user="priya"] button`)
	maya.sendOK("Thanks for the fix! I'll review it after lunch.")
	priya.pm("maya", "Thank you! No rush.")
	maya.wait(shows("Thank you! No rush."))
	// Join #random, then back to #general.
	maya.sendOK("/join random")
	maya.wait(`parley.state().currentRoom === 'random'`)
	maya.click(`#room-list li[data-room="general"] .room-open`)
	maya.wait(`parley.state().currentRoom === 'general'`)
	maya.sendOK("Great work, everyone. Let's ship it this afternoon.")
	maya.wait(shows("Great work, everyone. Let's ship it this afternoon."))
	// Reactions to the review link, maya's own among them (from her other connection).
	mayaWS := dialAccount(t, s.addr, mayaToken)
	for _, r := range []struct {
		who   *wsUser
		emoji string
	}{{alex, "👍"}, {jonas, "👍"}, {mayaWS, "🎉"}, {jonas, "🎉"}} {
		r.who.request(map[string]any{"type": "React", "id": review, "emoji": r.emoji, "on": true})
	}
	// A mention of maya, with a screenshot attached.
	shot := uploadAPI(t, s, jonasToken, "scroll-bug.png", chartPNG(t))
	jonas.say("general", "@maya this is the scroll bug I mentioned, the list jumps after a reconnect:\n![scroll-bug.png]("+shot+")")
	// Unread: two in #random, one from jonas in a new DM.
	alex.say("random", "Anyone up for lunch at 12:30?")
	alex.say("random", "The new place on the corner does good noodles.")
	jonas.pm("maya", "Got a minute to pair on the scroll bug later?")
	maya.wait(`document.querySelector('#room-list li[data-room="random"] .unread-badge')?.textContent === '2' &&
		document.querySelector('#dm-list li[data-user="jonas"] .unread-badge')?.textContent === '1' &&
		document.querySelectorAll('#message-list .reaction-chip').length === 2 &&
		document.querySelector('#message-list .reaction-chip[aria-pressed="true"]')?.dataset.emoji === '🎉' &&
		!!document.querySelector('#message-list .message.mentions-me .mention-me') &&
		!!document.querySelector('#message-list pre') &&
		[...document.querySelectorAll('#message-list .msg-files img')].some((i) => i.complete && i.naturalWidth > 0)`)
	maya.checkOrder()
	// Focus elsewhere than the composer, so no caret blinks into the pictures.
	eval[bool](maya, `(document.activeElement.blur(), true)`)

	bg := `getComputedStyle(document.body).backgroundColor`
	// inView is a JS expression: which of sidebar, member panel and message list are on screen.
	inView := `JSON.stringify(['sidebar', 'member-panel', 'message-list'].map((id) => {
		const e = document.getElementById(id), r = e.getBoundingClientRect();
		return r.right > 0 && r.left < innerWidth && r.width > 0 && getComputedStyle(e).visibility === 'visible';
	}))`
	settled := `document.getAnimations().every((a) => a.playState !== 'running')`
	atBottom := `(() => { const l = document.querySelector('#message-list'); return l.scrollHeight - l.scrollTop - l.clientHeight < 2; })()`
	var light string
	for _, shot := range []struct {
		size, scheme string
		w, h         int64
		mobile       bool
		inView       string // sidebar, members, messages
	}{
		{"desktop", "light", 1280, 800, false, "[true,true,true]"},
		{"desktop", "dark", 1280, 800, false, "[true,true,true]"},
		{"phone", "light", 390, 844, true, "[false,false,true]"},
		// The dark phone picture shows the rooms drawer with its unread badges.
		{"phone", "dark", 390, 844, true, "[true,false,true]"},
	} {
		maya.viewport(shot.w, shot.h, shot.mobile)
		maya.colorScheme(shot.scheme)
		maya.wait(`matchMedia('(prefers-color-scheme: ` + shot.scheme + `)').matches && innerWidth === ` + strconv.FormatInt(shot.w, 10))
		if shot.size == "phone" && shot.scheme == "dark" {
			maya.click("#sidebar-toggle")
		}
		// Laid out for the width: no sideways scrolling; the side panels in
		// view on a desktop, drawers off screen on a phone; the newest message
		// at the bottom of the view.
		maya.wait(settled + ` && document.documentElement.scrollWidth <= innerWidth && ` + inView + ` === '` + shot.inView + `' && ` + atBottom)
		got := eval[string](maya, bg)
		if shot.scheme == "light" {
			light = got
		} else if got == light {
			t.Errorf("%s: dark mode has the light background %s", shot.size, got)
		}
		maya.screenshot("chat-" + shot.scheme + "-" + shot.size + ".png")
	}
	// The drawer closes with Escape and gives the focus back to its button.
	maya.do(chromedp.KeyEvent(kb.Escape))
	maya.wait(settled + ` && ` + inView + ` === '[false,false,true]' && document.activeElement === document.querySelector('#sidebar-toggle')`)
}

// The sign-in screen, the first thing a visitor sees, in two of the pictures.
func TestBrowserScreenshotsSignin(t *testing.T) {
	s := startServer(t, "", "")
	p := newPage(t, s.url(), "visitor")
	p.wait(`document.body.dataset.screen === 'signin'`)
	settled := `document.getAnimations().every((a) => a.playState !== 'running')`
	for _, shot := range []struct {
		size, scheme string
		w, h         int64
		mobile       bool
	}{
		{"desktop", "light", 1280, 800, false},
		{"phone", "dark", 390, 844, true},
	} {
		p.viewport(shot.w, shot.h, shot.mobile)
		p.colorScheme(shot.scheme)
		p.wait(`matchMedia('(prefers-color-scheme: ` + shot.scheme + `)').matches && innerWidth === ` + strconv.FormatInt(shot.w, 10))
		eval[bool](p, `(document.activeElement.blur(), true)`)
		// The whole card in view, nothing to scroll sideways.
		p.wait(settled + ` && document.documentElement.scrollWidth <= innerWidth && ` +
			`document.querySelector('#guest-button').getBoundingClientRect().bottom <= innerHeight`)
		p.screenshot("signin-" + shot.scheme + "-" + shot.size + ".png")
	}
}

// uploadAPI uploads content as name with the account's token, as a client
// other than the browser would, and returns its URL.
func uploadAPI(t *testing.T, s *server, token, name string, content []byte) string {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	pw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	pw.Write(content)
	mw.Close()
	req, err := http.NewRequest("POST", s.url()+"api/upload", &b)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: waitLimit}).Do(req)
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	defer resp.Body.Close()
	var got struct{ URL string }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusCreated || got.URL == "" {
		t.Fatalf("upload %s: got status %d, url %q (%v), want 201 and a url", name, resp.StatusCode, got.URL, err)
	}
	return got.URL
}

// chartPNG draws a small chart, something a person would share: a frame
// of scroll positions, the jump after a reconnect in red.
func chartPNG(t *testing.T) []byte {
	t.Helper()
	const w, h = 640, 320
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	fill := func(x0, y0, x1, y1 int, c color.NRGBA) {
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				img.Set(x, y, c)
			}
		}
	}
	fill(0, 0, w, h, color.NRGBA{248, 249, 251, 255})
	fill(40, 20, 42, h-30, color.NRGBA{120, 126, 138, 255}) // the axes
	fill(40, h-32, w-20, h-30, color.NRGBA{120, 126, 138, 255})
	for i := range 14 {
		v := 40 + i*12
		c := color.NRGBA{74, 122, 214, 255}
		if i == 9 {
			v, c = 250, color.NRGBA{214, 74, 74, 255}
		}
		x := 60 + i*40
		fill(x, h-32-v, x+26, h-32, c)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
