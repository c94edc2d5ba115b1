package transport

// Where uploaded files live (docs/security.md, "Uploads"): one directory,
// each file named by the hex of its content's SHA-256, so that the same
// bytes uploaded twice are stored once, and a name can only ever be 64 hex
// digits (validID): nothing a client sends becomes part of a path. A file
// is written to a temporary file in the same directory and renamed into
// place once complete and checked, so that a reader never sees half of
// one. An image's thumbnail is "<id>.thumb" beside it.
//
// What a file is comes from its first bytes (http.DetectContentType), never
// from the client; only the types in uploadTypes are kept.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // registers the GIF decoder
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // registers the WebP decoder with image.Decode
)

// sniffLen is how many bytes http.DetectContentType looks at.
const sniffLen = 512

// uploadType is a content type parley keeps, and how it is served.
type uploadType struct {
	ext   string // the extension a downloaded file's name is given
	image bool   // shown inline, with a thumbnail
}

// uploadTypes is the allow-list, keyed by what http.DetectContentType
// answers. Images are shown inline; everything else is only ever a
// download. Not in it, so refused: text/html and text/xml (which is how
// an SVG with an XML prolog sniffs), application/octet-stream (every
// executable), and anything else the sniffer names. An SVG without a
// prolog sniffs as text/plain and is kept as plain text: served as
// text/plain, nosniff, as an attachment in a sandbox, it is only text.
var uploadTypes = map[string]uploadType{
	"image/png":                 {".png", true},
	"image/jpeg":                {".jpg", true},
	"image/gif":                 {".gif", true},
	"image/webp":                {".webp", true},
	"application/pdf":           {".pdf", false},
	"text/plain; charset=utf-8": {".txt", false},
	"application/zip":           {".zip", false},
	"application/x-gzip":        {".gz", false},
	"video/mp4":                 {".mp4", false},
	"video/webm":                {".webm", false},
	"audio/mpeg":                {".mp3", false},
	"application/ogg":           {".ogg", false},
}

// The store's refusals, each answered with its own status (uploads.go).
var (
	errUploadType     = errors.New("content type not allowed")
	errUploadTooLarge = errors.New("file too large")
	errUploadEmpty    = errors.New("empty file")
	errUploadRead     = errors.New("read upload") // the body is malformed or ended early
	errImageTooLarge  = errors.New("image dimensions too large")
	errImageBad       = errors.New("image cannot be decoded")
)

// storedFile is what put kept.
type storedFile struct {
	id    string // hex SHA-256 of the content
	typ   string // the sniffed content type, a key of uploadTypes
	size  int64
	dedup bool // the same content was already stored
}

// fileStore is the uploads directory.
type fileStore struct {
	dir       string
	maxPixels int64         // width*height an image may claim, checked before decoding
	thumbMax  int           // a thumbnail's longer side, in pixels
	decode    chan struct{} // a slot per image decoded at once: each may take maxPixels*4 bytes
}

// validID reports whether id can name a stored file: exactly 64 lowercase
// hex digits. Every path the store opens is built from such an id, so no
// "..", separator, or encoded trick reaches the filesystem.
func validID(id string) bool {
	if len(id) != 2*sha256.Size {
		return false
	}
	for i := range len(id) {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// put reads src, at most limit bytes, into the store. It sniffs the first
// bytes and refuses a type not allowed before reading further; it checks
// an image's header before decoding it (a decompression bomb is refused
// from its claimed size) and makes its thumbnail before the file is
// renamed into place, so that every stored image has one. n is how many
// bytes were read from src, for the quota, on success or not.
func (st *fileStore) put(ctx context.Context, src io.Reader, limit int64) (f storedFile, n int64, err error) {
	head := make([]byte, sniffLen)
	hn, rerr := io.ReadFull(src, head)
	n = int64(hn)
	head = head[:hn]
	if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
		return f, n, fmt.Errorf("%w: %w", errUploadRead, rerr)
	}
	if hn == 0 {
		return f, n, errUploadEmpty
	}
	if n > limit {
		return f, n, errUploadTooLarge
	}
	f.typ = http.DetectContentType(head)
	t, ok := uploadTypes[f.typ]
	if !ok {
		return f, n, fmt.Errorf("%w: %s", errUploadType, f.typ)
	}
	if err := os.MkdirAll(st.dir, 0o750); err != nil {
		return f, n, fmt.Errorf("uploads directory: %w", err)
	}
	tmp, err := os.CreateTemp(st.dir, ".upload-*")
	if err != nil {
		return f, n, fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		_ = tmp.Close() // a second Close after the rename's is harmless
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	w := &fileWriter{w: io.MultiWriter(tmp, h)}
	if _, err := w.Write(head); err != nil {
		return f, n, fmt.Errorf("write upload: %w", err)
	}
	// One byte over the limit tells a file that is too large from one that
	// is exactly the limit.
	cn, err := io.Copy(w, io.LimitReader(src, limit-n+1))
	n += cn
	switch {
	case w.err != nil: // the disk's fault, not the client's
		return f, n, fmt.Errorf("write upload: %w", w.err)
	case err != nil:
		return f, n, fmt.Errorf("%w: %w", errUploadRead, err)
	}
	if n > limit {
		return f, n, errUploadTooLarge
	}
	f.size = n
	f.id = hex.EncodeToString(h.Sum(nil))
	final := filepath.Join(st.dir, f.id)
	if _, serr := os.Stat(final); serr == nil {
		f.dedup = true // the same bytes, hence the same checks passed, and its thumbnail exists
		_ = os.Remove(tmp.Name())
		return f, n, nil
	}
	if t.image {
		if err := st.thumbnail(ctx, tmp, f.id); err != nil {
			return f, n, err
		}
	}
	if err := tmp.Sync(); err != nil {
		return f, n, fmt.Errorf("sync upload: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return f, n, fmt.Errorf("close upload: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return f, n, fmt.Errorf("store upload: %w", err)
	}
	return f, n, nil
}

// fileWriter keeps its writer's error, so that put can tell a failing disk
// from a failing client after io.Copy.
type fileWriter struct {
	w   io.Writer
	err error
}

func (fw *fileWriter) Write(p []byte) (int, error) {
	n, err := fw.w.Write(p)
	if err != nil {
		fw.err = err
	}
	return n, err
}

// thumbnail checks the image in file and writes its thumbnail, id.thumb:
// at most thumbMax on its longer side, PNG (JPEG for a JPEG, turned as its
// EXIF orientation says: uploadexif.go). The header's
// width*height is bounded before anything is decoded, and decodes run at
// most cap(decode) at once.
func (st *fileStore) thumbnail(ctx context.Context, file *os.File, id string) error {
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind upload: %w", err)
	}
	cfg, format, err := image.DecodeConfig(file)
	if err != nil {
		return fmt.Errorf("%w: %w", errImageBad, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return errImageBad
	}
	if int64(cfg.Width)*int64(cfg.Height) > st.maxPixels {
		return fmt.Errorf("%w: %dx%d", errImageTooLarge, cfg.Width, cfg.Height)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind upload: %w", err)
	}
	select {
	case st.decode <- struct{}{}:
	case <-ctx.Done(): // the client is gone: nobody waits for this thumbnail
		return fmt.Errorf("wait to decode: %w", ctx.Err())
	}
	img, err := decodeImage(file)
	<-st.decode
	if err != nil {
		return err
	}
	b := img.Bounds()
	tw, th := fitWithin(b.Dx(), b.Dy(), st.thumbMax)
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	var buf bytes.Buffer
	if format == "jpeg" {
		dst = orient(dst, exifOrientation(file))
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 85})
	} else {
		err = png.Encode(&buf, dst)
	}
	if err != nil {
		return fmt.Errorf("encode thumbnail: %w", err)
	}
	return writeAtomic(st.dir, id+".thumb", buf.Bytes())
}

// decodeImage decodes an image (a GIF: its first frame only). A decoder
// that panics on a hostile file (it has happened in the standard library's
// and x/image's) is a bad image, not a lost decode slot.
func decodeImage(r io.Reader) (img image.Image, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("%w: decoder panicked: %v", errImageBad, p)
		}
	}()
	if img, _, err = image.Decode(r); err != nil {
		return nil, fmt.Errorf("%w: %w", errImageBad, err)
	}
	return img, nil
}

// fitWithin scales w×h down (never up) so that neither side exceeds m.
func fitWithin(w, h, m int) (int, int) {
	if w <= m && h <= m {
		return w, h
	}
	if w >= h {
		return m, max(1, h*m/w)
	}
	return max(1, w*m/h), m
}

// removeOrphans removes the temporary files older than an hour: what an
// upload in progress when the process died left behind.
func (st *fileStore) removeOrphans(now time.Time) int {
	names, _ := filepath.Glob(filepath.Join(st.dir, ".upload-*"))
	n := 0
	for _, name := range names {
		if fi, err := os.Lstat(name); err == nil && now.Sub(fi.ModTime()) > time.Hour && os.Remove(name) == nil {
			n++
		}
	}
	return n
}

// writeAtomic writes b to dir/name through a temporary file renamed into
// place.
func writeAtomic(dir, name string, b []byte) error {
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// open opens a stored file (thumb: its thumbnail) inside the directory
// only (os.Root: no symlink or ".." leads out of it), and sniffs its type
// again, as put did: the type is a function of the content, so nothing
// else need be stored. A file of a type not allowed (put it there by hand)
// is not served.
func (st *fileStore) open(id string, thumb bool) (*os.File, string, error) {
	if !validID(id) {
		return nil, "", os.ErrNotExist
	}
	root, err := os.OpenRoot(st.dir)
	if err != nil {
		return nil, "", err
	}
	defer root.Close()
	name := id
	if thumb {
		name += ".thumb"
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, "", err
	}
	head := make([]byte, sniffLen)
	hn, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		f.Close()
		return nil, "", err
	}
	typ := http.DetectContentType(head[:hn])
	if _, ok := uploadTypes[typ]; !ok || hn == 0 {
		f.Close()
		return nil, "", fmt.Errorf("stored file %s: type %s: %w", name, typ, fs.ErrNotExist)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, "", err
	}
	return f, typ, nil
}

// downloadName is the name a file is offered under: the client's name,
// reduced to its last path element, without control characters, at most
// 120 characters, and ending in the extension of the type it really has
// (a text file named "x.html" is "x.html.txt"), so that saving it never
// makes it something else on the reader's disk.
func downloadName(name, typ string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffd ||
			r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return -1 // controls, and the bidi overrides that disguise an extension
		}
		return r
	}, name)
	// No leading dot (a hidden file), and no trailing dot or space (which
	// Windows drops, changing the extension).
	name = strings.TrimFunc(name, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
	if r := []rune(name); len(r) > 120 {
		name = string(r[:120])
	}
	ext := uploadTypes[typ].ext
	if name == "" {
		name = "file"
	}
	if e := strings.ToLower(filepath.Ext(name)); e != ext && !(ext == ".jpg" && e == ".jpeg") {
		name += ext
	}
	return name
}
