package server

// Uploads' flags and their directory's default (transport/uploads.go does
// the work): here so that main, the tests and the bench configure them the
// same way.

import (
	"flag"
	"path/filepath"
	"strings"

	"parley/transport"
)

// UploadsOff, as -uploads, turns uploads off.
const UploadsOff = "off"

// UploadFlags adds the upload flags to fs, writing into o.
func UploadFlags(fs *flag.FlagSet, o *transport.UploadOptions) {
	fs.StringVar(&o.Dir, "uploads", "", "`directory` uploaded files are stored in, created at the first upload (empty: uploads/ beside the SQLite database, ./uploads with PostgreSQL; \"off\": no uploads)")
	fs.Int64Var(&o.MaxBytes, "upload-max", 10<<20, "largest uploaded file in `bytes`")
	fs.BoolVar(&o.Guests, "upload-guests", false, "let guests (connections without an account) upload files, counted against their address's quota only")
	fs.Int64Var(&o.BytesPerDay, "upload-bytes-per-day", 200<<20, "`bytes` one account, and one IP address, may upload a day")
	fs.IntVar(&o.PerHour, "upload-per-hour", 60, "files one account, and one IP address, may upload an hour")
	fs.Int64Var(&o.MinFree, "upload-min-free", 1<<30, "`bytes` of disk an upload must leave free on the uploads directory's filesystem, so that files never starve the database (negative: no check)")
	fs.Int64Var(&o.MaxPixels, "upload-max-pixels", 25_000_000, "largest image (width × height) accepted; checked from its header before it is decoded")
}

// uploadsDir is where uploads go for -uploads dir and -db db: dir if set,
// none if "off", else beside a SQLite database, or ./uploads for
// PostgreSQL (or a database in memory).
func uploadsDir(dir, db string) string {
	switch {
	case dir == UploadsOff:
		return ""
	case dir != "":
		return dir
	case IsPostgres(db):
		return "uploads"
	}
	path := db
	if rest, ok := strings.CutPrefix(db, "sqlite:"); ok {
		path = strings.TrimPrefix(rest, "//")
	}
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return "uploads"
	}
	return filepath.Join(filepath.Dir(path), "uploads")
}
