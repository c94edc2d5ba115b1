package client_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	parley "parley/internal/server"
	"parley/transport"
)

// Ann (an account) picks an image and a text file with the composer's
// picker, pastes one and drops one; the upload's progress events fill the
// bar; each upload puts its reference in her composer and she sends it.
// Bob, a guest in another page, sees the image's thumbnail loaded in her
// message and the other files as download chips. A file over the
// server's limit, and a guest's upload (guests may not by default), are
// refused by the page, with the reason, before a byte is sent.
func TestBrowserUploadImageByPicker(t *testing.T) {
	needBrowser(t)
	// A limit small enough to pass a file over it.
	s := startServerConfig(t, "", parley.Config{Transport: transport.Options{Uploads: transport.UploadOptions{MaxBytes: 256 << 10}}})
	dir := t.TempDir()
	img := image.NewNRGBA(image.Rect(0, 0, 800, 400))
	for y := range 400 {
		for x := range 800 {
			img.Set(x, y, color.NRGBA{uint8(x), uint8(y), 160, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if b.Len() > 256<<10 {
		t.Fatalf("the test image: got %d bytes, want it under the limit", b.Len())
	}
	catPath, notesPath, bigPath := filepath.Join(dir, "cat.png"), filepath.Join(dir, "notes.txt"), filepath.Join(dir, "big.txt")
	if err := os.WriteFile(bigPath, bytes.Repeat([]byte("big "), 80<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(catPath, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notesPath, []byte("notes: <script>alert(1)</script>"), 0o600); err != nil {
		t.Fatal(err)
	}

	ann := newPage(t, s.url(), "Ann")
	ann.register("Ann", "correct horse battery")
	ann.wait(accountChat("Ann"))
	bob := newPage(t, s.url(), "bob")
	bob.login("bob")
	ann.wait(`!!document.querySelector('#member-list li[data-user="bob"]')`)

	ann.do(chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{catPath}))
	ann.wait(`/^!\[cat\.png\]\(\/files\/[0-9a-f]{64}\/cat\.png\)$/.test(document.querySelector('#message-input').value) &&
		document.querySelector('#upload-status').hidden && document.querySelector('#upload-progress').value === 100`)
	ann.do(chromedp.Focus(chromedp.ID("message-input")))
	ann.enter()
	thumb := `(() => {
		const img = document.querySelector('#message-list .message[data-user="Ann"] .msg-files a.msg-image img');
		return !!img && img.complete && img.naturalWidth === 320 && img.naturalHeight === 160 && img.alt === 'cat.png' &&
			/\/files\/[0-9a-f]{64}\/cat\.png$/.test(img.parentElement.href) &&
			img.closest('.msg-body').textContent === '';
	})()`
	bob.wait(thumb)
	ann.wait(thumb + ` && document.querySelector('#message-input').value === ''`)

	// A text file (script inside is only text): a chip, with a caption.
	ann.do(chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{notesPath}))
	ann.wait(`/^\[notes\.txt\]\(\/files\/[0-9a-f]{64}\/notes\.txt\)$/.test(document.querySelector('#message-input').value)`)
	ann.do(chromedp.Focus(chromedp.ID("message-input")), chromedp.SendKeys(chromedp.ID("message-input"), " my notes"))
	ann.enter()
	bob.wait(`(() => {
		const a = document.querySelector('#message-list .message[data-user="Ann"] .msg-files a.msg-file');
		return !!a && a.getAttribute('download') === 'notes.txt' && a.querySelector('.msg-file-name').textContent === 'notes.txt' &&
			a.closest('.msg-body').firstChild.textContent === 'my notes';
	})()`)
	bob.screenshot("uploads.png")

	// Paste a file into the composer, then drop one on the conversation:
	// both references wait in the composer, one a line, and go as one
	// message.
	eval[bool](ann, `(() => {
		const dt = new DataTransfer();
		dt.items.add(new File(['pasted text'], 'paste.txt', { type: 'text/plain' }));
		return document.querySelector('#message-input').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
	})()`)
	ann.wait(`/^\[paste\.txt\]\(\/files\/[0-9a-f]{64}\/paste\.txt\)$/.test(document.querySelector('#message-input').value)`)
	eval[bool](ann, `(() => {
		const dt = new DataTransfer();
		dt.items.add(new File(['dropped text'], 'drop.txt', { type: 'text/plain' }));
		return document.querySelector('#message-list').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
	})()`)
	ann.wait(`/^\[paste\.txt\]\(\/files\/[0-9a-f]{64}\/paste\.txt\)\n\[drop\.txt\]\(\/files\/[0-9a-f]{64}\/drop\.txt\)$/.test(document.querySelector('#message-input').value)`)
	ann.do(chromedp.Focus(chromedp.ID("message-input")))
	ann.enter()
	bob.wait(`[...document.querySelectorAll('#message-list .message[data-user="Ann"] .msg-files')].some((box) =>
		[...box.querySelectorAll('a.msg-file .msg-file-name')].map((n) => n.textContent).join(' ') === 'paste.txt drop.txt')`)

	// The image opened on its own is a sandboxed document: an opaque
	// origin, so nothing in it could act as parley's page.
	tab := bob.secondTab(s.url()+strings.TrimPrefix(eval[string](bob, `document.querySelector('#message-list .msg-files a.msg-image').getAttribute('href')`), "/"), "bob's image tab")
	t.Cleanup(func() { // before the tab's own check: the sandbox blocking the harness's injected script is the point
		tab.mu.Lock()
		defer tab.mu.Unlock()
		kept := tab.problems[:0]
		for _, pr := range tab.problems {
			if !strings.Contains(pr, "Blocked script execution") || !strings.Contains(pr, "sandboxed") {
				kept = append(kept, pr)
			}
		}
		tab.problems = kept
	})
	tab.wait(`document.contentType === 'image/png' && !!document.querySelector('img')`)
	if got := eval[string](tab, `window.origin`); got != "null" {
		tab.fail("the image opened on its own: got origin %q, want \"null\" (sandboxed)", got)
	}

	// A reference written by hand, with markup in its label: the label is
	// dropped, the name comes from the URL, and nothing is parsed as HTML.
	catURL := eval[string](bob, `document.querySelector('#message-list .msg-files a.msg-image').getAttribute('href')`)
	bob.sendOK(`![<img src=x onerror=alert(1)>](` + catURL + `) again`)
	ann.wait(`[...document.querySelectorAll('#message-list .message[data-user="bob"] .msg-body')].some((b) =>
		b.firstChild.textContent === 'again' && b.querySelector('.msg-files a.msg-image img').alt === 'cat.png') &&
		!document.querySelector('#message-list img[src="x"]')`)

	// Over the server's limit (it says what it is): the page says so
	// without sending it.
	ann.do(chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{bigPath}))
	ann.wait(`[...document.querySelectorAll('#message-list .system-line.error')].some((l) =>
		l.textContent === 'big.txt: That file is larger than this server accepts (256 KB).')`)

	// Bob is a guest, and guests may not upload here: the paperclip says
	// so at once, and a file given to the picker anyway is not sent.
	guestRefusals := `[...document.querySelectorAll('#message-list .system-line.error')].filter((l) => l.textContent.includes('Sign in to share files')).length`
	bob.click("#attach-button")
	bob.wait(guestRefusals + ` === 1`)
	bob.do(chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{catPath}))
	bob.wait(guestRefusals + ` === 2 && document.querySelector('#message-input').value === '' && document.querySelector('#upload-status').hidden`)
	if got := uploadMetric(t, s, `parley_uploads_total{result="unauthorized"}`); got != 0 {
		t.Errorf("guest uploads the server saw: got %v, want 0 (the page refused them)", got)
	}
}

// uploadMetric reads a counter from the server's admin handler; 0 if it has no
// sample yet.
func uploadMetric(t *testing.T, s *server, name string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	s.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	return 0
}
