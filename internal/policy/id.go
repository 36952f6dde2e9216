package policy

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// Decision ids are 26 characters of Crockford base32 over 48 bits of
// Unix milliseconds and 80 random bits (the ULID layout): unique, and
// sortable by time as plain strings. Within one millisecond the random part
// is incremented, so ids of one process also sort in issue order and most
// ids cost no call to the random source.

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var ids struct {
	mu     sync.Mutex
	ms     uint64
	hi     uint16 // top 16 of the 80 random bits
	lo     uint64 // low 64
	nowFn  func() time.Time
	random func([]byte)
}

func init() {
	ids.nowFn = time.Now
	ids.random = func(b []byte) { _, _ = rand.Read(b) } // crypto/rand never fails
}

// NewID returns a new decision id.
func NewID() string {
	ids.mu.Lock()
	ms := uint64(ids.nowFn().UnixMilli())
	if ms > ids.ms {
		var r [10]byte
		ids.random(r[:])
		ids.ms = ms
		ids.hi = binary.BigEndian.Uint16(r[:2])
		ids.lo = binary.BigEndian.Uint64(r[2:])
	} else {
		// Same millisecond (or the clock stepped back): keep the last time
		// and count up, carrying into the high bits.
		ids.lo++
		if ids.lo == 0 {
			ids.hi++
		}
	}
	ms, hi, lo := ids.ms, ids.hi, ids.lo
	ids.mu.Unlock()
	return encodeID(ms, hi, lo)
}

// encodeID writes the 128 bits (48 time, 80 random) as 26 base32 digits,
// most significant first; the first digit holds only 3 bits.
func encodeID(ms uint64, hi uint16, lo uint64) string {
	var b [16]byte
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	binary.BigEndian.PutUint16(b[6:], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	var out [26]byte
	// 130 bits of output for 128 of input: read 5 bits at a time from a
	// big-endian bit string padded with two leading zero bits.
	for i := 25; i >= 0; i-- {
		bit := 127 - (25-i)*5 // index (from the most significant) of the lowest bit of this digit
		var v byte
		for k := 0; k < 5; k++ {
			p := bit - k
			if p < 0 {
				break
			}
			if b[p/8]&(0x80>>(p%8)) != 0 {
				v |= 1 << k
			}
		}
		out[i] = crockford[v]
	}
	return string(out[:])
}
