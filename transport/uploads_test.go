package transport_test

// Uploads over real HTTP on 127.0.0.1 (transport/uploads.go): what is kept,
// how it is served, and the hostile inputs that must be refused.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	parley "parley/internal/server"
	"parley/transport"
)

// startUploadServer is an accounts server with uploads in a directory of
// the test's, returned too.
func startUploadServer(t *testing.T, o transport.UploadOptions) (*server, string) {
	t.Helper()
	o.Dir = filepath.Join(t.TempDir(), "uploads")
	cfg := serverConfig{transport: transport.Options{Uploads: o}}
	// A trusted proxy on loopback lets a test speak for several addresses
	// (X-Forwarded-For), for the per-address quota.
	cfg.transport.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	return startAccountsServer(t, cfg), o.Dir
}

// multipartBody is a multipart/form-data body with one "file" part.
func multipartBody(t *testing.T, name string, content []byte) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	pw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	pw.Write(content)
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// upload posts content as name; headers as in call.
func (s *server) upload(name string, content []byte, headers ...string) apiReply {
	s.t.Helper()
	ct, body := multipartBody(s.t, name, content)
	req, err := http.NewRequest("POST", s.httpURL()+"/api/upload", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	return s.do(req)
}

func (s *server) do(req *http.Request) apiReply {
	s.t.Helper()
	resp, err := (&http.Client{Timeout: waitLimit}).Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	r := apiReply{status: resp.StatusCode, header: resp.Header}
	r.raw, _ = io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(r.raw, &r.body)
	}
	return r
}

func (s *server) get(path string) apiReply {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.httpURL()+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.do(req)
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x), uint8(y), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegOf(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngBomb is a PNG whose header claims w×h pixels (with a correct CRC),
// followed by a little zlib data that would inflate to far more: what a
// decompression bomb looks like up to where a careful server stops.
func pngBomb(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		c := append([]byte(typ), data...)
		b.Write(c)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00, 0x00})
	chunk("IEND", nil)
	return b.Bytes()
}

// stored lists the uploads directory, temporary files included.
func stored(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func expectFileHeaders(t *testing.T, what string, r apiReply, typ, disposition, nameSuffix string) {
	t.Helper()
	h := r.header
	if r.status != http.StatusOK {
		t.Fatalf("%s: got %d %s, want 200", what, r.status, r.raw)
	}
	if got := h.Get("Content-Type"); got != typ {
		t.Errorf("%s: got Content-Type %q, want %q", what, got, typ)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: got X-Content-Type-Options %q, want nosniff", what, got)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox;") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("%s: got CSP %q, want sandbox and default-src 'none'", what, csp)
	}
	cd := h.Get("Content-Disposition")
	if !strings.HasPrefix(cd, disposition+";") || !strings.Contains(cd, "filename*=UTF-8''") || !strings.HasSuffix(cd, nameSuffix) {
		t.Errorf("%s: got Content-Disposition %q, want %s with filename* ending %q", what, cd, disposition, nameSuffix)
	}
}

func TestUploadImageServedInlineWithBoundedThumbnail(t *testing.T) {
	s, dir := startUploadServer(t, transport.UploadOptions{})
	tok := s.register("Alice", "correct horse")
	img := pngOf(t, 1000, 500)
	r := s.upload("holiday.png", img, bearer(tok))
	if r.status != http.StatusCreated {
		t.Fatalf("upload: got %d %s, want 201", r.status, r.raw)
	}
	id := r.str("id")
	if len(id) != 64 || r.str("type") != "image/png" || r.str("name") != "holiday.png" ||
		r.str("url") != "/files/"+id+"/holiday.png" || r.str("thumb") != "/thumbs/"+id || r.body["size"] != float64(len(img)) {
		t.Fatalf("upload: got %s, want id, image/png, holiday.png, its url and thumb, size %d", r.raw, len(img))
	}
	f := s.get(r.str("url"))
	expectFileHeaders(t, "the image", f, "image/png", "inline", "holiday.png")
	if !bytes.Equal(f.raw, img) {
		t.Errorf("the image: got %d bytes, want the %d uploaded", len(f.raw), len(img))
	}
	req, _ := http.NewRequest("GET", s.httpURL()+r.str("url"), nil)
	req.Header.Set("If-None-Match", f.header.Get("ETag"))
	if again := s.do(req); f.header.Get("ETag") != `"`+id+`"` || again.status != http.StatusNotModified {
		t.Errorf("the image again, If-None-Match its ETag %s: got %d, want 304", f.header.Get("ETag"), again.status)
	}
	th := s.get(r.str("thumb"))
	expectFileHeaders(t, "the thumbnail", th, "image/png", "inline", "thumbnail.png")
	cfg, err := png.DecodeConfig(bytes.NewReader(th.raw))
	if err != nil || cfg.Width != 320 || cfg.Height != 160 {
		t.Errorf("the thumbnail: got %dx%d (%v), want 320x160", cfg.Width, cfg.Height, err)
	}

	// A tall JPEG: its thumbnail is a JPEG 320 high. A name without the
	// right extension gets it.
	r = s.upload("scan", jpegOf(t, 200, 900), bearer(tok))
	if r.status != http.StatusCreated || r.str("type") != "image/jpeg" || r.str("name") != "scan.jpg" {
		t.Fatalf("jpeg upload: got %d %s, want 201 image/jpeg scan.jpg", r.status, r.raw)
	}
	th = s.get(r.str("thumb"))
	jc, err := jpeg.DecodeConfig(bytes.NewReader(th.raw))
	if err != nil || jc.Width != 71 || jc.Height != 320 || th.header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("jpeg thumbnail: got %dx%d %s (%v), want 71x320 image/jpeg", jc.Width, jc.Height, th.header.Get("Content-Type"), err)
	}
	// A GIF: its first frame, as a PNG.
	var g bytes.Buffer
	if err := gif.Encode(&g, image.NewPaletted(image.Rect(0, 0, 640, 100), color.Palette{color.Black, color.White}), nil); err != nil {
		t.Fatal(err)
	}
	r = s.upload("anim.gif", g.Bytes(), bearer(tok))
	th = s.get(r.str("thumb"))
	cfg, err = png.DecodeConfig(bytes.NewReader(th.raw))
	if r.str("type") != "image/gif" || err != nil || cfg.Width != 320 || cfg.Height != 50 {
		t.Errorf("gif: got %s and a %dx%d thumbnail (%v), want image/gif and 320x50", r.raw, cfg.Width, cfg.Height, err)
	}
	for _, n := range stored(t, dir) {
		if strings.HasPrefix(n, ".upload-") {
			t.Errorf("uploads directory: got temporary file %s left, want none", n)
		}
	}
}

func TestUploadDedupesByContentHash(t *testing.T) {
	s, dir := startUploadServer(t, transport.UploadOptions{})
	tok := s.register("Alice", "correct horse")
	img := pngOf(t, 40, 30)
	a := s.upload("a.png", img, bearer(tok))
	b := s.upload("b.png", img, bearer(tok))
	if a.status != http.StatusCreated || b.status != http.StatusCreated || a.str("id") != b.str("id") {
		t.Fatalf("two uploads of the same bytes: got %d %s and %d %s, want 201 with one id", a.status, a.raw, b.status, b.raw)
	}
	if a.str("url") == b.str("url") || !strings.HasSuffix(b.str("url"), "/b.png") {
		t.Errorf("urls: got %s and %s, want each its own name", a.str("url"), b.str("url"))
	}
	id := a.str("id")
	if got, want := strings.Join(stored(t, dir), " "), id+" "+id+".thumb"; got != want {
		t.Errorf("uploads directory: got %q, want %q", got, want)
	}
	// The second name is the one its URL offers.
	expectFileHeaders(t, "b", s.get(b.str("url")), "image/png", "inline", "b.png")
	if got := metric(t, s, `parley_uploads_total{result="stored"}`); got != 1 {
		t.Errorf("uploads stored: got %v, want 1", got)
	}
	if got := metric(t, s, `parley_uploads_total{result="dedup"}`); got != 1 {
		t.Errorf("uploads deduplicated: got %v, want 1", got)
	}
	if got := metric(t, s, "parley_upload_stored_bytes_total"); got != float64(len(img)) {
		t.Errorf("bytes stored: got %v, want %d", got, len(img))
	}
}

func TestUploadRefusesHostileTypes(t *testing.T) {
	s, dir := startUploadServer(t, transport.UploadOptions{})
	tok := s.register("Alice", "correct horse")
	refused := []struct{ name, content string }{
		{"setup.exe", "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + strings.Repeat("\x00", 64)},
		{"run", "\x7fELF\x02\x01\x01\x00" + strings.Repeat("\x00", 64)},
		{"page.html", "<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"},
		{"page.png", "  <html><body onload=alert(1)>"}, // a lying name changes nothing
		{"logo.svg", `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`},
		{"x.txt", "\xff\xfeh\x00i\x00"}, // UTF-16: text/plain, but not UTF-8
	}
	for _, c := range refused {
		r := s.upload(c.name, []byte(c.content), bearer(tok))
		expectAPI(t, c.name, r, http.StatusUnsupportedMediaType, "type_not_allowed")
	}
	if got := stored(t, dir); len(got) != 0 {
		t.Errorf("uploads directory after refusals: got %v, want nothing", got)
	}
	if got := metric(t, s, `parley_uploads_total{result="type_not_allowed"}`); got != float64(len(refused)) {
		t.Errorf("refusals counted: got %v, want %d", got, len(refused))
	}

	// Script that sniffs as plain text is kept as plain text: served as
	// text/plain, nosniff, an attachment in a sandbox, under a name that
	// cannot open as a page on the reader's disk either.
	svg := `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>`
	r := s.upload("logo.svg", []byte(svg), bearer(tok))
	if r.status != http.StatusCreated || r.str("type") != "text/plain" || r.str("name") != "logo.svg.txt" || r.str("thumb") != "" {
		t.Fatalf("svg without prolog: got %d %s, want 201 text/plain logo.svg.txt without thumb", r.status, r.raw)
	}
	f := s.get(r.str("url"))
	expectFileHeaders(t, "svg as text", f, "text/plain; charset=utf-8", "attachment", "logo.svg.txt")
	if got := s.get("/thumbs/" + r.str("id")); got.status != http.StatusNotFound {
		t.Errorf("thumbnail of a text file: got %d, want 404", got.status)
	}
	// A name chosen to break the header, or to disguise the extension.
	evil := "a\"b\\c\r\nSet-Cookie: x=1;\u202egnp.exe"
	r = s.upload(evil, []byte("hello"), bearer(tok))
	if r.status != http.StatusCreated {
		t.Fatalf("upload with a hostile name: got %d %s, want 201", r.status, r.raw)
	}
	f = s.get(r.str("url"))
	cd := f.header.Get("Content-Disposition")
	if f.header.Get("Set-Cookie") != "" || strings.ContainsAny(cd, "\r\n\u202e\\") || !strings.HasSuffix(cd, "gnp.exe.txt") ||
		strings.Count(cd, `"`) != 2 || !strings.HasPrefix(cd, `attachment; filename="`) {
		t.Errorf("hostile name: got Content-Disposition %q, want sanitized, ending .txt", cd)
	}
}

// countingReader counts what the HTTP client read of a body.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestUploadOversizeRefusedWhileReading(t *testing.T) {
	const max = 64 << 10
	s, dir := startUploadServer(t, transport.UploadOptions{MaxBytes: max})
	tok := s.register("Alice", "correct horse")

	// The limit itself is allowed.
	if r := s.upload("max.txt", bytes.Repeat([]byte("a"), max), bearer(tok)); r.status != http.StatusCreated {
		t.Errorf("a file of exactly -upload-max: got %d %s, want 201", r.status, r.raw)
	}
	if r := s.upload("over.txt", bytes.Repeat([]byte("a"), max+1), bearer(tok)); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a file one byte over: got %d %s, want 413", r.status, r.raw)
	}

	// 64 MiB, streamed without a Content-Length: the server stops reading
	// near the limit; what the client managed to send beyond it is what
	// the sockets' buffers held.
	const total = 64 << 20
	ct, head := multipartBody(t, "big.txt", nil)
	head = head[:bytes.LastIndex(head, []byte("\r\n--"))] // the part's headers, not the closing boundary
	body := &countingReader{r: io.MultiReader(bytes.NewReader(head), io.LimitReader(repeatReader('a'), total))}
	req, _ := http.NewRequest("POST", s.httpURL()+"/api/upload", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.ContentLength = -1
	resp, err := (&http.Client{Timeout: waitLimit}).Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("64 MiB streamed: got %d, want 413", resp.StatusCode)
		}
	} else { // the server closed before the client read its answer: also a refusal
		t.Logf("64 MiB streamed: %v", err)
	}
	t.Logf("64 MiB streamed: the client read %d bytes of it", body.n.Load())
	if n := body.n.Load(); n >= total/2 {
		t.Errorf("64 MiB streamed: got %d bytes read by the client, want far fewer (the server stopped reading)", n)
	}

	// A declared length over the limit is refused before a byte is read.
	body = &countingReader{r: io.LimitReader(repeatReader('a'), total)}
	req, _ = http.NewRequest("POST", s.httpURL()+"/api/upload", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.ContentLength = total
	resp, err = (&http.Client{Timeout: waitLimit}).Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("Content-Length 64 MiB: got %d, want 413", resp.StatusCode)
		}
	} else {
		t.Logf("Content-Length 64 MiB: %v", err)
	}
	if n := body.n.Load(); n >= total/2 {
		t.Errorf("Content-Length 64 MiB: got %d bytes read by the client, want far fewer", n)
	}
	if got := stored(t, dir); len(got) != 1 {
		t.Errorf("uploads directory: got %v, want only the file of exactly the limit", got)
	}
}

type repeatReader byte

func (b repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestUploadRefusesDecompressionBombAndBrokenImages(t *testing.T) {
	s, dir := startUploadServer(t, transport.UploadOptions{})
	tok := s.register("Alice", "correct horse")
	expectAPI(t, "a 100000x100000 PNG header", s.upload("bomb.png", pngBomb(100000, 100000), bearer(tok)), http.StatusUnprocessableEntity, "image_too_large")
	expectAPI(t, "a 6000x5000 PNG header (30 Mpx)", s.upload("big.png", pngBomb(6000, 5000), bearer(tok)), http.StatusUnprocessableEntity, "image_too_large")
	expectAPI(t, "a small PNG with broken data", s.upload("broken.png", pngBomb(10, 10), bearer(tok)), http.StatusUnprocessableEntity, "bad_image")
	if got := stored(t, dir); len(got) != 0 {
		t.Errorf("uploads directory after refusals: got %v, want nothing", got)
	}
}

// rawGet sends target as it is (no client cleans it) and returns the
// status and body.
func rawGet(t *testing.T, host, target string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestUploadPathTricksNeverLeaveTheDirectory(t *testing.T) {
	s, dir := startUploadServer(t, transport.UploadOptions{})
	tok := s.register("Alice", "correct horse")
	r := s.upload("note.txt", []byte("kept"), bearer(tok))
	if r.status != http.StatusCreated {
		t.Fatalf("upload: got %d %s", r.status, r.raw)
	}
	id := r.str("id")
	// A secret beside the directory, and a link to it inside it named
	// like an id, as if planted.
	secret := filepath.Join(filepath.Dir(dir), "secret.txt")
	if err := os.WriteFile(secret, []byte("SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	planted := strings.Repeat("ab", 32)
	if err := os.Symlink(secret, filepath.Join(dir, planted)); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{
		"/files/../secret.txt", "/files/..%2fsecret.txt", "/files/%2e%2e/secret.txt", "/files/%2e%2e%2fsecret.txt",
		"/files/..%5csecret.txt", "/files//etc/passwd", "/files/%2fetc%2fpasswd", "/files/" + planted,
		"/files/" + planted + "/secret.txt", "/thumbs/" + planted, "/files/" + strings.ToUpper(id),
		"/files/" + id + "0", "/files/" + id[:63], "/files/" + strings.Repeat("a", 4000), "/files/" + id + ".thumb",
		"/files/" + id + "%00", "/files/.upload-123", "/thumbs/" + id, "/thumbs/../" + id, "/files/" + id + "/../../secret.txt",
	} {
		status, body := rawGet(t, s.host(), target)
		if status == http.StatusOK || strings.Contains(body, "SECRET") {
			t.Errorf("GET %s: got %d %q, want a refusal and never the secret", target, status, body)
		}
	}
	// The real one still works, with any name.
	if status, body := rawGet(t, s.host(), "/files/"+id+"/..%2f..%2fx"); status != http.StatusOK || body != "kept" {
		t.Errorf("GET the file under a tricky name: got %d %q, want 200 kept", status, body)
	}
}

func TestUploadQuotaPerAccountAndAddress(t *testing.T) {
	s, _ := startUploadServer(t, transport.UploadOptions{PerHour: 2, BytesPerDay: 100 << 10, MaxBytes: 64 << 10})
	alice := s.register("Alice", "correct horse")
	bob := s.register("Bob", "correct horse")
	from := func(ip string) string { return "X-Forwarded-For: " + ip }
	for i := range 2 {
		if r := s.upload(fmt.Sprintf("%d.txt", i), []byte(fmt.Sprintf("file %d", i)), bearer(alice), from("192.0.2.1")); r.status != http.StatusCreated {
			t.Fatalf("upload %d: got %d %s, want 201", i, r.status, r.raw)
		}
	}
	r := s.upload("3.txt", []byte("three"), bearer(alice), from("192.0.2.2"))
	expectAPI(t, "Alice's third upload this hour, from another address", r, http.StatusTooManyRequests, "quota_exceeded")
	if r.header.Get("Retry-After") == "" {
		t.Errorf("quota refusal: got no Retry-After, want one")
	}
	expectAPI(t, "Bob, from Alice's address", s.upload("b.txt", []byte("bob"), bearer(bob), from("192.0.2.1")), http.StatusTooManyRequests, "quota_exceeded")
	expectAPI(t, "Bob, from his own address", s.upload("b.txt", []byte("bob"), bearer(bob), from("192.0.2.3")), http.StatusCreated, "")

	// Bytes a day: 60 KiB fits in Carol's 100; the next 60 do not, for a
	// day.
	s, _ = startUploadServer(t, transport.UploadOptions{PerHour: 100, BytesPerDay: 100 << 10, MaxBytes: 64 << 10})
	carol := s.register("Carol", "correct horse")
	expectAPI(t, "Carol's 60 KiB", s.upload("60k.txt", bytes.Repeat([]byte("b"), 60<<10), bearer(carol), from("192.0.2.4")), http.StatusCreated, "")
	r = s.upload("60k2.txt", bytes.Repeat([]byte("c"), 60<<10), bearer(carol), from("192.0.2.5"))
	expectAPI(t, "Carol's next 60 KiB", r, http.StatusTooManyRequests, "quota_exceeded")
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 23*3600 || ra > 24*3600 {
		t.Errorf("over the day's bytes: got Retry-After %q, want about a day", r.header.Get("Retry-After"))
	}
}

func TestUploadNeedsAnAccountUnlessGuestsMay(t *testing.T) {
	s, dir := startUploadServer(t, transport.UploadOptions{})
	tok := s.register("Alice", "correct horse")
	expectAPI(t, "no session", s.upload("a.txt", []byte("hi")), http.StatusUnauthorized, "unauthorized")
	other := "x" + tok[1:]
	if other == tok {
		other = "y" + tok[1:]
	}
	expectAPI(t, "a session that does not exist", s.upload("a.txt", []byte("hi"), bearer(other)), http.StatusUnauthorized, "unauthorized")
	expectAPI(t, "another site's page", s.upload("a.txt", []byte("hi"), cookieHeader(tok), "Origin: https://evil.example"), http.StatusForbidden, "forbidden_origin")
	expectAPI(t, "not multipart", s.call("POST", "/api/upload", map[string]string{"file": "hi"}, bearer(tok)), http.StatusUnsupportedMediaType, "unsupported_media_type")
	expectAPI(t, "an empty file", s.upload("a.txt", nil, bearer(tok)), http.StatusBadRequest, "empty_file")
	if got := stored(t, dir); len(got) != 0 {
		t.Errorf("uploads directory: got %v, want nothing", got)
	}
	expectAPI(t, "the cookie, same origin", s.upload("a.txt", []byte("hi"), cookieHeader(tok), "Origin: "+s.httpURL()), http.StatusCreated, "")

	if r := s.get("/api/upload"); r.status != http.StatusOK || r.body["max_bytes"] != float64(10<<20) || r.body["guests"] != false {
		t.Errorf("GET /api/upload: got %d %s, want 200 with the default limit and no guests", r.status, r.raw)
	}

	g, _ := startUploadServer(t, transport.UploadOptions{Guests: true})
	if r := g.get("/api/upload"); r.body["guests"] != true {
		t.Errorf("GET /api/upload with -upload-guests: got %s, want guests true", r.raw)
	}
	expectAPI(t, "a guest, with -upload-guests", g.upload("a.txt", []byte("hi")), http.StatusCreated, "")
}

// withOrientation inserts an APP1 Exif segment saying orientation o into a
// JPEG, right after its SOI.
func withOrientation(jpg []byte, o uint16) []byte {
	var tiff bytes.Buffer
	tiff.WriteString("MM\x00\x2a")
	binary.Write(&tiff, binary.BigEndian, uint32(8))
	binary.Write(&tiff, binary.BigEndian, uint16(1))
	binary.Write(&tiff, binary.BigEndian, []uint16{0x0112, 3})
	binary.Write(&tiff, binary.BigEndian, uint32(1))
	binary.Write(&tiff, binary.BigEndian, []uint16{o, 0})
	binary.Write(&tiff, binary.BigEndian, uint32(0))
	seg := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, 0xFF, 0xE1, byte((len(seg)+2)>>8), byte(len(seg)+2))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// A phone's portrait photo is stored on its side with an EXIF orientation;
// its thumbnail is turned upright, as browsers show the photo itself.
func TestUploadJPEGThumbnailFollowsEXIFOrientation(t *testing.T) {
	s, _ := startUploadServer(t, transport.UploadOptions{})
	tok := s.register("Alice", "correct horse")
	img := image.NewRGBA(image.Rect(0, 0, 400, 200)) // as stored: red on the left, blue on the right
	for y := range 200 {
		for x := range 400 {
			c := color.RGBA{220, 0, 0, 255}
			if x >= 200 {
				c = color.RGBA{0, 0, 220, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	r := s.upload("portrait.jpg", withOrientation(b.Bytes(), 6), bearer(tok))
	if r.status != http.StatusCreated {
		t.Fatalf("upload: got %d %s, want 201", r.status, r.raw)
	}
	th, err := jpeg.Decode(bytes.NewReader(s.get(r.str("thumb")).raw))
	if err != nil {
		t.Fatalf("thumbnail: %v", err)
	}
	// Turned a quarter clockwise: 160x320, the stored left (red) on top.
	red := func(x, y int) bool { r, _, b, _ := th.At(x, y).RGBA(); return r > 0x8000 && b < 0x4000 }
	blue := func(x, y int) bool { r, _, b, _ := th.At(x, y).RGBA(); return b > 0x8000 && r < 0x4000 }
	if bd := th.Bounds(); bd.Dx() != 160 || bd.Dy() != 320 || !red(80, 40) || !blue(80, 280) {
		t.Errorf("thumbnail: got %dx%d, red on top %v, blue below %v; want 160x320, red on top, blue below",
			bd.Dx(), bd.Dy(), red(80, 40), blue(80, 280))
	}
}

func TestUploadsOff(t *testing.T) {
	s := startAccountsServer(t, serverConfig{transport: transport.Options{Uploads: transport.UploadOptions{Dir: parley.UploadsOff}}})
	tok := s.register("Alice", "correct horse")
	for _, r := range []apiReply{s.get("/api/upload"), s.upload("a.txt", []byte("hi"), bearer(tok)), s.get("/files/" + strings.Repeat("a", 64))} {
		if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
			t.Errorf("with -uploads off: got %d %s, want 404 or 405", r.status, r.raw)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.dbPath), "uploads")); !os.IsNotExist(err) {
		t.Errorf("with -uploads off: got an uploads directory beside the database (%v), want none", err)
	}
}

// An upload that would leave less than -upload-min-free on the disk is
// refused, so that files never starve the database beside them.
func TestUploadRefusedWhenTheDiskIsNearlyFull(t *testing.T) {
	s, dir := startUploadServer(t, transport.UploadOptions{MinFree: 1 << 62})
	tok := s.register("Alice", "correct horse")
	expectAPI(t, "with 4 EiB to keep free", s.upload("a.txt", []byte("hi"), bearer(tok)), http.StatusInsufficientStorage, "storage_full")
	if got := stored(t, dir); len(got) != 0 {
		t.Errorf("uploads directory: got %v, want nothing", got)
	}
	s2, _ := startUploadServer(t, transport.UploadOptions{MinFree: -1})
	tok = s2.register("Alice", "correct horse")
	expectAPI(t, "with no check", s2.upload("a.txt", []byte("hi"), bearer(tok)), http.StatusCreated, "")
}

// Uploads at once cannot overrun the day's bytes together: each reserves
// what it may read before reading.
func TestUploadQuotaHoldsUnderConcurrency(t *testing.T) {
	const day = 100 << 10
	s, _ := startUploadServer(t, transport.UploadOptions{BytesPerDay: day, MaxBytes: 64 << 10, PerHour: 100})
	tok := s.register("Alice", "correct horse")
	type result struct {
		status int
		size   int64
		err    error
	}
	results := make(chan result, 8)
	for i := range 8 {
		ct, body := multipartBody(t, "f.txt", bytes.Repeat([]byte{'a' + byte(i)}, 30<<10))
		go func() { // ends when its request does (the client's timeout is waitLimit)
			req, err := http.NewRequest("POST", s.httpURL()+"/api/upload", bytes.NewReader(body))
			if err != nil {
				results <- result{err: err}
				return
			}
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := (&http.Client{Timeout: waitLimit}).Do(req)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var r struct{ Size int64 }
			_ = json.NewDecoder(resp.Body).Decode(&r)
			results <- result{status: resp.StatusCode, size: r.Size}
		}()
	}
	var stored int64
	var ok, refused int
	for range 8 {
		r := <-results
		switch {
		case r.err != nil:
			t.Errorf("upload: %v", r.err)
		case r.status == http.StatusCreated:
			ok++
			stored += r.size
		case r.status == http.StatusTooManyRequests:
			refused++
		default:
			t.Errorf("upload: got %d, want 201 or 429", r.status)
		}
	}
	if stored > day || ok == 0 || ok+refused != 8 {
		t.Errorf("8 uploads of 30 KiB at once with 100 KiB a day: got %d stored (%d bytes), %d refused; want at most 100 KiB stored", ok, stored, refused)
	}
}

// A WebP (testdata: golang.org/x/image's blue-purple-pink.lossy.webp,
// 150x100): kept as an image; a thumbnail never scales up.
func TestUploadWebP(t *testing.T) {
	webp, err := os.ReadFile("testdata/blue-purple-pink.lossy.webp")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := startUploadServer(t, transport.UploadOptions{})
	tok := s.register("Alice", "correct horse")
	r := s.upload("colours", webp, bearer(tok))
	if r.status != http.StatusCreated || r.str("type") != "image/webp" || r.str("name") != "colours.webp" {
		t.Fatalf("webp upload: got %d %s, want 201 image/webp colours.webp", r.status, r.raw)
	}
	expectFileHeaders(t, "the webp", s.get(r.str("url")), "image/webp", "inline", "colours.webp")
	cfg, err := png.DecodeConfig(bytes.NewReader(s.get(r.str("thumb")).raw))
	if err != nil || cfg.Width != 150 || cfg.Height != 100 {
		t.Errorf("webp thumbnail: got %dx%d (%v), want 150x100", cfg.Width, cfg.Height, err)
	}
}
