package server

import (
	"flag"
	"testing"

	"parley/transport"
)

func TestUploadsDirDefaultsBesideTheDatabase(t *testing.T) {
	for _, c := range []struct{ dir, db, want string }{
		{"", "/var/lib/parley/chat.db", "/var/lib/parley/uploads"},
		{"", "sqlite:///var/lib/parley/chat.db", "/var/lib/parley/uploads"},
		{"", "chat.db", "uploads"},
		{"", "postgres://u@h/parley", "uploads"},
		{"/srv/files", "chat.db", "/srv/files"},
		{UploadsOff, "chat.db", ""},
	} {
		if got := uploadsDir(c.dir, c.db); got != c.want {
			t.Errorf("uploadsDir(%q, %q): got %q, want %q", c.dir, c.db, got, c.want)
		}
	}
}

func TestUploadFlags(t *testing.T) {
	var o transport.UploadOptions
	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	UploadFlags(fs, &o)
	if err := fs.Parse([]string{"-uploads", "off", "-upload-max", "2048", "-upload-guests"}); err != nil {
		t.Fatal(err)
	}
	if o.Dir != UploadsOff || o.MaxBytes != 2048 || !o.Guests || o.PerHour != 60 || o.BytesPerDay != 200<<20 || o.MinFree != 1<<30 {
		t.Errorf("flags: got %+v, want off, 2048, guests, the default quota", o)
	}
}
