package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// HashParams are argon2id's parameters. A stored hash names its own (PHC
// string), so raising them later only makes new hashes, and each old one is
// rehashed at its account's next login.
type HashParams struct {
	MemoryKiB uint32 // m
	Time      uint32 // t, passes over the memory
	Threads   uint8  // p
}

// DefaultHashParams are OWASP's minimum for argon2id: m=19 MiB, t=2, p=1
// (what a hash then costs is in docs/performance.md; why in
// docs/security.md).
var DefaultHashParams = HashParams{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

const (
	saltBytes = 16
	keyBytes  = 32
)

// b64 is the PHC string's base64: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// hashPassword returns password's argon2id hash under p as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func hashPassword(password string, p HashParams) (string, error) {
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyBytes)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// phc is a parsed PHC string.
type phc struct {
	params    HashParams
	salt, key []byte
}

var errBadPHC = errors.New("malformed argon2id PHC string")

func parsePHC(s string) (phc, error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, errBadPHC
	}
	var h phc
	for _, kv := range strings.Split(f[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return phc{}, errBadPHC
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return phc{}, errBadPHC
		}
		switch k {
		case "m":
			h.params.MemoryKiB = uint32(n)
		case "t":
			h.params.Time = uint32(n)
		case "p":
			if n > 255 {
				return phc{}, errBadPHC
			}
			h.params.Threads = uint8(n)
		default:
			return phc{}, errBadPHC
		}
	}
	if h.params.MemoryKiB == 0 || h.params.Time == 0 || h.params.Threads == 0 {
		return phc{}, errBadPHC
	}
	var err error
	if h.salt, err = b64.DecodeString(f[4]); err != nil || len(h.salt) < 8 {
		return phc{}, errBadPHC
	}
	if h.key, err = b64.DecodeString(f[5]); err != nil || len(h.key) < 16 {
		return phc{}, errBadPHC
	}
	return h, nil
}

// verifyPassword reports whether password matches the PHC string, and
// whether that hash was made with parameters other than p (to be rehashed).
func verifyPassword(password, encoded string, p HashParams) (ok, stale bool, err error) {
	h, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	key := argon2.IDKey([]byte(password), h.salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, h.params != p || len(h.key) != keyBytes, nil
}

// ErrBusy: the hashing limit is reached; the client should retry shortly.
var ErrBusy = errors.New("too many password checks at once")

// hashGate bounds the argon2 work: at most cap(slots) hashes run at once and
// at most queue callers wait for a slot; the next ones get ErrBusy at once,
// so that a flood of logins costs a bounded number of cores and a bounded
// latency, never the whole CPU.
type hashGate struct {
	slots   chan struct{} // a token per running hash: sent by a hash starting, received when it ends
	waiting atomic.Int64
	queue   int64
}

func newHashGate(concurrency, queue int) *hashGate {
	return &hashGate{slots: make(chan struct{}, concurrency), queue: int64(queue)}
}

// running reports how many hashes run now.
func (g *hashGate) running() int { return len(g.slots) }

// do runs f once a slot is free: ErrBusy if too many wait already, ctx's
// error if it ends first.
func (g *hashGate) do(ctx context.Context, f func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		if g.waiting.Add(1) > g.queue {
			g.waiting.Add(-1)
			return ErrBusy
		}
		select {
		case g.slots <- struct{}{}:
			g.waiting.Add(-1)
		case <-ctx.Done():
			g.waiting.Add(-1)
			return ctx.Err()
		}
	}
	defer func() { <-g.slots }()
	f()
	return nil
}
