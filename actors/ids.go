package actors

import (
	"math/rand/v2"
	"time"

	"github.com/oklog/ulid/v2"
)

// idSource hands out message ids: ULIDs (48-bit millisecond time, 80 bits of
// randomness) that strictly increase for one source, across restarts too,
// because a room's source is seeded with the greatest id already stored. Ids
// of different sources are unique because of the random part. Not safe for
// concurrent use: each room actor and each session owns one.
type idSource struct {
	last ulid.ULID
	rnd  *rand.ChaCha8
}

func newIDSource(last string) *idSource {
	var seed [32]byte
	for i := range 4 {
		v := rand.Uint64()
		for j := range 8 {
			seed[i*8+j] = byte(v >> (8 * j))
		}
	}
	s := &idSource{rnd: rand.NewChaCha8(seed)}
	if last != "" {
		if id, err := ulid.ParseStrict(last); err == nil {
			s.last = id
		}
	}
	return s
}

// next returns an id greater than every id this source returned or was
// seeded with. When the clock has not moved past the last id's millisecond
// (or went backwards), it increments the last id instead of trusting the clock.
func (s *idSource) next(now time.Time) string {
	ms := uint64(now.UnixMilli())
	var id ulid.ULID
	if ms > s.last.Time() {
		_ = id.SetTime(ms)
		var entropy [10]byte
		_, _ = s.rnd.Read(entropy[:])
		entropy[0] &= 0x7f // leave room to increment within the millisecond
		_ = id.SetEntropy(entropy[:])
	} else {
		id = s.last
		for i := len(id) - 1; i >= 6; i-- { // add one to the 80-bit entropy
			id[i]++
			if id[i] != 0 {
				break
			}
		}
	}
	s.last = id
	return id.String()
}

// validID reports whether s is a well-formed message id.
func validID(s string) bool {
	_, err := ulid.ParseStrict(s)
	return err == nil
}
