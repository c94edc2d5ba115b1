package transport

// Files and images (docs/protocol.md, "Files and images"; docs/security.md,
// "Uploads"): POST /api/upload stores a file (uploadstore.go) and answers
// its id and URL; a message refers to a file by carrying that URL in its
// text. GET /files/{id}/{name} serves the file and GET /thumbs/{id} an
// image's thumbnail, with headers that keep an uploaded file from ever
// running as a page of parley's origin: its own sniffed type, nosniff, a
// sandboxing CSP, and Content-Disposition: attachment for all but images.

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"parley/internal/protocol"
)

// UploadOptions configure uploads. Zero values take the defaults in
// brackets.
type UploadOptions struct {
	// Dir is the uploads directory, created at the first upload; "" turns
	// uploads off (no /api/upload, no /files/).
	Dir string
	// MaxBytes is the largest file [10 MiB].
	MaxBytes int64
	// Guests lets connections without an account upload (counted by their
	// address only); otherwise uploading needs a session.
	Guests bool
	// BytesPerDay and PerHour are each account's and each client address's
	// quota [200 MiB a day; 60 uploads an hour].
	BytesPerDay int64
	PerHour     int
	// QuotaKeys bounds the quota's map of accounts and addresses [100,000].
	QuotaKeys int
	// MaxPixels bounds an image's width*height, read from its header
	// before it is decoded [25 million]; ThumbMax a thumbnail's longer side
	// [320].
	MaxPixels int64
	ThumbMax  int
	// MinFree is the space an upload must leave free on the uploads
	// directory's filesystem [1 GiB]: the database is often on the same
	// one, and must not be starved by files. Negative: no check.
	MinFree int64
}

func (o UploadOptions) withDefaults() UploadOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 10 << 20
	}
	if o.BytesPerDay <= 0 {
		o.BytesPerDay = 200 << 20
	}
	if o.PerHour <= 0 {
		o.PerHour = 60
	}
	if o.QuotaKeys <= 0 {
		o.QuotaKeys = 100_000
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = 25_000_000
	}
	if o.ThumbMax <= 0 {
		o.ThumbMax = 320
	}
	if o.MinFree == 0 {
		o.MinFree = 1 << 30
	}
	return o
}

// multipartSlack is what a multipart body may hold besides the file: the
// boundaries, the part's headers, and a few small fields.
const multipartSlack = 16 << 10

// uploads is the transport's side of uploads: the store and the quota.
type uploads struct {
	opts  UploadOptions
	store *fileStore
	quota *uploadQuota
	now   func() time.Time

	results     *prometheus.CounterVec // parley_uploads_total{result}
	storedBytes prometheus.Counter     // parley_upload_stored_bytes_total
}

// routeUploads adds the upload and file routes, if uploads are on.
func (s *Server) routeUploads() {
	o := s.opts.Uploads
	if o.Dir == "" {
		return
	}
	o = o.withDefaults()
	s.uploads = &uploads{
		opts:  o,
		store: &fileStore{dir: o.Dir, maxPixels: o.MaxPixels, thumbMax: o.ThumbMax, decode: make(chan struct{}, 2)},
		quota: newUploadQuota(o.BytesPerDay, o.PerHour, o.QuotaKeys),
		now:   time.Now,
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "parley", Name: "uploads_total",
			Help: "Uploads, by result: stored, dedup (already stored), or the error code they were refused with.",
		}, []string{"result"}),
		storedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "parley", Name: "upload_stored_bytes_total",
			Help: "Bytes of new files stored (not counting duplicates or thumbnails).",
		}),
	}
	if n := s.uploads.store.removeOrphans(time.Now()); n > 0 {
		s.log.Info("uploads: removed temporary files left by interrupted uploads", "count", n, "dir", o.Dir)
	}
	s.mux.HandleFunc("GET /api/upload", s.apiUploadLimits)
	s.mux.HandleFunc("POST /api/upload", s.post(s.apiUpload))
	s.mux.HandleFunc("GET /files/{id}", s.serveUpload)
	s.mux.HandleFunc("GET /files/{id}/{name}", s.serveUpload)
	s.mux.HandleFunc("GET /thumbs/{id}", s.serveUpload)
}

// apiUploadLimits tells a client what it may upload, so that it can say so
// before sending a byte: the largest file, and whether guests may.
func (s *Server) apiUploadLimits(w http.ResponseWriter, _ *http.Request) {
	apiJSON(w, http.StatusOK, struct {
		MaxBytes int64 `json:"max_bytes"`
		Guests   bool  `json:"guests"`
	}{s.uploads.opts.MaxBytes, s.uploads.opts.Guests})
}

// uploadReply is POST /api/upload's answer.
type uploadReply struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Type  string `json:"type"`
	Size  int64  `json:"size"`
	URL   string `json:"url"`
	Thumb string `json:"thumb,omitempty"`
}

// apiUpload stores the multipart body's "file" part. The checks come in
// the order that spends least on a request to be refused: who (401), the
// declared length (413, nothing read), the body's kind (415: not multipart),
// the disk's free space (507), the quota (429, nothing read), then
// the type from the first 512 bytes (415, the rest not read), then the
// size while reading (413, reading stops at the limit), then an image's
// dimensions from its header (422, nothing decoded).
func (s *Server) apiUpload(w http.ResponseWriter, r *http.Request) {
	u := s.uploads
	ip := s.clientKey(r)
	keys := []string{"ip:" + ip}
	if token := requestToken(r); token != "" && s.opts.Accounts != nil {
		auth, err := s.opts.Accounts.Authenticate(r.Context(), token)
		if err != nil {
			s.uploads.results.WithLabelValues("unauthorized").Inc()
			s.apiFail(w, r, err)
			return
		}
		keys = append(keys, "account:"+strconv.FormatInt(auth.AccountID, 10))
	} else if !u.opts.Guests {
		s.refusals.add(refusedUnauthorized)
		s.uploadRefuse(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	if r.ContentLength > u.opts.MaxBytes+multipartSlack {
		w.Header().Set("Connection", "close") // and the body is never read
		s.uploadRefuse(w, http.StatusRequestEntityTooLarge, string(protocol.CodeTooLarge))
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		s.uploadRefuse(w, http.StatusUnsupportedMediaType, "unsupported_media_type")
		return
	}
	if u.opts.MinFree >= 0 {
		if free, known := freeBytes(u.opts.Dir); known && free < uint64(u.opts.MinFree+u.opts.MaxBytes) {
			s.rlog.Log(slog.LevelWarn, "uploads disk full", "uploads refused: too little disk space left",
				"dir", u.opts.Dir, "free", free, "min_free", u.opts.MinFree)
			s.uploadRefuse(w, http.StatusInsufficientStorage, "storage_full")
			return
		}
	}
	granted, retry, ok := u.quota.reserve(u.now(), u.opts.MaxBytes, keys...)
	if !ok {
		s.refusals.add(refusedUploadQuota)
		setRetryAfter(w, retry)
		s.uploadRefuse(w, http.StatusTooManyRequests, "quota_exceeded")
		return
	}
	var read int64
	defer func() { u.quota.settle(granted, read, keys...) }()

	body := http.MaxBytesReader(w, r.Body, granted+multipartSlack)
	part, err := filePart(multipart.NewReader(body, params["boundary"]))
	if err != nil {
		s.uploadFail(w, r, fmt.Errorf("%w: %w", errUploadRead, err), granted, keys)
		return
	}
	defer part.Close()
	f, n, err := u.store.put(r.Context(), part, granted)
	read = n
	if err != nil {
		s.uploadFail(w, r, err, granted, keys)
		return
	}
	name := downloadName(part.FileName(), f.typ)
	reply := uploadReply{
		ID: f.id, Name: name, Type: strings.TrimSuffix(f.typ, "; charset=utf-8"), Size: f.size,
		URL: "/files/" + f.id + "/" + url.PathEscape(name),
	}
	if uploadTypes[f.typ].image {
		reply.Thumb = "/thumbs/" + f.id
	}
	if f.dedup {
		u.results.WithLabelValues("dedup").Inc()
	} else {
		u.results.WithLabelValues("stored").Inc()
		u.storedBytes.Add(float64(f.size))
	}
	s.log.Info("upload", "id", f.id, "type", f.typ, "size", f.size, "dedup", f.dedup, "client", ip, "keys", keys[1:])
	apiJSON(w, http.StatusCreated, reply)
}

// filePart finds the part named "file", skipping a few others.
func filePart(mr *multipart.Reader) (*multipart.Part, error) {
	for range 8 {
		p, err := mr.NextPart()
		if err != nil {
			return nil, err
		}
		if p.FormName() == "file" {
			return p, nil
		}
		_ = p.Close()
	}
	return nil, errors.New(`no "file" part among the first 8`)
}

// uploadFail answers an upload that was refused or failed. A body over the
// limit is 413 when the file is over MaxBytes, and 429 when it is only over
// what the quota had left.
func (s *Server) uploadFail(w http.ResponseWriter, r *http.Request, err error, granted int64, keys []string) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, errUploadTooLarge), errors.As(err, &tooBig):
		if granted < s.uploads.opts.MaxBytes {
			s.refusals.add(refusedUploadQuota)
			setRetryAfter(w, s.uploads.quota.dayEnds(s.uploads.now(), keys...))
			s.uploadRefuse(w, http.StatusTooManyRequests, "quota_exceeded")
			return
		}
		s.uploadRefuse(w, http.StatusRequestEntityTooLarge, string(protocol.CodeTooLarge))
	case errors.Is(err, errUploadType):
		s.uploadRefuse(w, http.StatusUnsupportedMediaType, "type_not_allowed")
	case errors.Is(err, errImageTooLarge):
		s.uploadRefuse(w, http.StatusUnprocessableEntity, "image_too_large")
	case errors.Is(err, errImageBad):
		s.uploadRefuse(w, http.StatusUnprocessableEntity, "bad_image")
	case errors.Is(err, errUploadEmpty):
		s.uploadRefuse(w, http.StatusBadRequest, "empty_file")
	case r.Context().Err() != nil: // nobody reads an answer
		s.uploads.results.WithLabelValues("client_gone").Inc()
		s.log.Debug("upload: client gone", "remote", r.RemoteAddr, "err", err)
	case errors.Is(err, errUploadRead):
		s.uploadRefuse(w, http.StatusBadRequest, string(protocol.CodeBadRequest))
	default:
		s.log.Error("upload", "remote", r.RemoteAddr, "err", err)
		s.uploadRefuse(w, http.StatusInternalServerError, "internal_error")
	}
}

// uploadRefuse answers a refused upload, counted by its code.
func (s *Server) uploadRefuse(w http.ResponseWriter, status int, code string) {
	s.uploads.results.WithLabelValues(code).Inc()
	apiError(w, status, code)
}

// uploadCollectors are the uploads' metrics; none when uploads are off.
func (s *Server) uploadCollectors() []prometheus.Collector {
	if s.uploads == nil {
		return nil
	}
	return []prometheus.Collector{s.uploads.results, s.uploads.storedBytes}
}

// fileCSP: a file opened on its own is a sandboxed document (an opaque
// origin: no script, no forms, no cookies of parley's), loading nothing
// but, for an image, itself, and the inline style of the browser's own
// image viewer (style cannot run anything).
const fileCSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'"

// serveUpload serves a stored file, or an image's thumbnail. The id is 64
// hex digits or the answer is 404 (path tricks never get further); the
// name in the path is only the one offered to save it under.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	thumb := strings.HasPrefix(r.URL.Path, "/thumbs/")
	id := r.PathValue("id")
	if !validID(id) {
		http.NotFound(w, r)
		return
	}
	f, typ, err := s.uploads.store.open(id, thumb)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("serve upload", "id", id, "err", err)
		}
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.Error(w, "cannot read the file", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", fileCSP)
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// The content of an id never changes: it is its hash.
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	if thumb {
		h.Set("ETag", `"`+id+`.thumb"`)
	} else {
		h.Set("ETag", `"`+id+`"`)
	}
	disposition := "attachment"
	if uploadTypes[typ].image {
		disposition = "inline"
	}
	name := downloadName(r.PathValue("name"), typ)
	if thumb {
		name = "thumbnail" + uploadTypes[typ].ext
	}
	h.Set("Content-Disposition", contentDisposition(disposition, name))
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// contentDisposition is the header with name as RFC 6266 wants it: an
// ASCII fallback in filename (anything else, and quotes and backslashes,
// as "_"), and the name itself in filename* (RFC 5987, UTF-8).
func contentDisposition(kind, name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, name)
	return fmt.Sprintf(`%s; filename="%s"; filename*=UTF-8''%s`, kind, ascii, rfc5987(name))
}

// rfc5987 percent-encodes all but RFC 5987's attr-char.
func rfc5987(s string) string {
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
