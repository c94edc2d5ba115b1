package transport

import (
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The quota's map is bounded: a new key past its size is refused until a
// key's windows end and a sweep forgets it.
func TestUploadQuotaMapIsBoundedAndSwept(t *testing.T) {
	q := newUploadQuota(1000, 10, 2)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, k := range []string{"a", "b"} {
		if _, _, ok := q.reserve(t0, 10, k); !ok {
			t.Fatalf("key %s: got refused, want room", k)
		}
	}
	if _, _, ok := q.reserve(t0.Add(2*time.Hour), 10, "c"); ok || len(q.use) != 2 {
		t.Errorf("a third key while the others' day runs: got ok=%v with %d keys, want refused with 2", ok, len(q.use))
	}
	if _, _, ok := q.reserve(t0.Add(25*time.Hour), 10, "c"); !ok || len(q.use) != 1 {
		t.Errorf("a third key a day later: got ok=%v with %d keys, want kept with the others swept", ok, len(q.use))
	}
}

// A reservation is what the key with least left has; settle gives back
// what was not read.
func TestUploadQuotaReservesAndSettles(t *testing.T) {
	q := newUploadQuota(1000, 10, 10)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got, _, ok := q.reserve(now, 700, "ip", "acct")
	q.settle(got, 100, "ip", "acct")
	if !ok || got != 700 || q.use["ip"].bytes != 100 {
		t.Fatalf("first: got %d ok=%v, %d used, want 700 granted and 100 used", got, ok, q.use["ip"].bytes)
	}
	got, _, _ = q.reserve(now, 1000, "acct")
	if got != 900 {
		t.Errorf("second: got %d granted, want the 900 left", got)
	}
	if _, retry, ok := q.reserve(now.Add(time.Hour), 1, "acct"); ok || retry != 23*time.Hour {
		t.Errorf("with nothing left: got ok=%v retry %v, want refused, retry in 23h", ok, retry)
	}
}

func TestDownloadNameAndDisposition(t *testing.T) {
	for _, c := range []struct{ in, typ, want string }{
		{"cat.png", "image/png", "cat.png"},
		{"CAT.PNG", "image/png", "CAT.PNG"},
		{"photo.jpeg", "image/jpeg", "photo.jpeg"},
		{"../../etc/passwd", "text/plain; charset=utf-8", "passwd.txt"},
		{`C:\x\evil.html`, "text/plain; charset=utf-8", "evil.html.txt"},
		{"invoice\u202efdp.exe", "application/pdf", "invoicefdp.exe.pdf"},
		{"...", "application/zip", "file.zip"},
		{"", "image/gif", "file.gif"},
	} {
		if got := downloadName(c.in, c.typ); got != c.want {
			t.Errorf("downloadName(%q, %s): got %q, want %q", c.in, c.typ, got, c.want)
		}
	}
	if got, want := contentDisposition("attachment", `né "x".txt`), `attachment; filename="n_ _x_.txt"; filename*=UTF-8''n%C3%A9%20%22x%22.txt`; got != want {
		t.Errorf("contentDisposition: got %s, want %s", got, want)
	}
}

// Temporary files an interrupted upload left are removed at start once
// they are an hour old; a younger one may be an upload in progress.
func TestUploadOrphansRemoved(t *testing.T) {
	dir := t.TempDir()
	st := &fileStore{dir: dir}
	now := time.Now()
	for name, age := range map[string]time.Duration{".upload-old": 2 * time.Hour, ".upload-new": time.Minute, "kept-old": 2 * time.Hour} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.removeOrphans(now); n != 1 {
		t.Errorf("removed: got %d, want 1", n)
	}
	for name, want := range map[string]bool{".upload-old": false, ".upload-new": true, "kept-old": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: got exists=%v, want %v", name, err == nil, want)
		}
	}
}

// The eight orientations, by what undoes them: each mirror and the half
// turn undo themselves, the quarter turns undo each other, and a quarter
// turn clockwise is a transpose then a mirror.
func TestOrientInverses(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	same := func(a, b *image.RGBA) bool {
		return a.Bounds().Size() == b.Bounds().Size() && string(a.Pix) == string(b.Pix)
	}
	for _, c := range []struct {
		name   string
		got    *image.RGBA
		wanted *image.RGBA
	}{
		{"2 2", orient(orient(img, 2), 2), img},
		{"3 3", orient(orient(img, 3), 3), img},
		{"4 4", orient(orient(img, 4), 4), img},
		{"5 5", orient(orient(img, 5), 5), img},
		{"7 7", orient(orient(img, 7), 7), img},
		{"6 8", orient(orient(img, 6), 8), img},
		{"8 6", orient(orient(img, 8), 6), img},
		{"6 = 5 then 2", orient(orient(img, 5), 2), orient(img, 6)},
		{"3 = 6 6", orient(orient(img, 6), 6), orient(img, 3)},
	} {
		if !same(c.got, c.wanted) {
			t.Errorf("orientation %s: got %v, want %v", c.name, c.got.Pix, c.wanted.Pix)
		}
	}
	if got := orient(img, 6).Bounds().Size(); got != image.Pt(2, 3) {
		t.Errorf("a quarter turn of 3x2: got %v, want 2x3", got)
	}
}

// Whatever name a client sends, the one offered back is clean: no control
// or bidi-override character, no path, the type's extension at the end,
// and a Content-Disposition that is one header line of ASCII.
func FuzzDownloadName(f *testing.F) {
	for _, s := range []string{"cat.png", "../../etc/passwd", "a\r\nSet-Cookie: x", "inv\u202efdp.exe", `C:\x\y.html`, "...", "é\"\\%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for typ, ut := range uploadTypes {
			name := downloadName(in, typ)
			if !strings.HasSuffix(strings.ToLower(name), ut.ext) && !(ut.ext == ".jpg" && strings.HasSuffix(strings.ToLower(name), ".jpeg")) {
				t.Fatalf("downloadName(%q, %s): got %q, want it to end in %s", in, typ, name, ut.ext)
			}
			if strings.ContainsAny(name, "/\\\x00\r\n\u202e\u2066") || strings.HasPrefix(name, ".") {
				t.Fatalf("downloadName(%q): got %q, with a path, control or bidi character, or a leading dot", in, name)
			}
			cd := contentDisposition("attachment", name)
			for i := range len(cd) {
				if cd[i] < 0x20 || cd[i] > 0x7e {
					t.Fatalf("contentDisposition(%q): got byte %#x in %q, want printable ASCII", name, cd[i], cd)
				}
			}
			if strings.Count(cd, `"`) != 2 {
				t.Fatalf("contentDisposition(%q): got %q, want one quoted filename", name, cd)
			}
		}
	})
}
