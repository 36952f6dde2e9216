package detect

import (
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aupguard/aupguard/internal/textcache"
)

// cacheRequests builds chat-like requests from the synthetic corpus: each
// has a few messages, most long enough to be cached, and requests resend
// earlier messages (as a chat resends its history).
func cacheRequests(t *testing.T) [][]string {
	items := synthCorpus(t, snapshotLexicon(t))
	r := rand.New(rand.NewPCG(7, 9))
	pad := func(s string) string {
		for len(s) < cacheMinText+r.IntN(200) {
			s += " " + filler[r.IntN(len(filler))]
		}
		return s
	}
	var history []string
	var reqs [][]string
	for i := 0; i < len(items); i += 1 + r.IntN(3) {
		msg := strings.Join(items[i].texts, " ")
		if r.IntN(4) > 0 {
			msg = pad(msg)
		}
		if r.IntN(8) == 0 || len(history) > 6 {
			history = nil
		}
		history = append(history, msg)
		req := append([]string(nil), history...)
		if r.IntN(10) == 0 {
			req = append(req, "", ".", "b o", "m b") // empty and boundary-sensitive texts
		}
		reqs = append(reqs, req)
	}
	return reqs
}

// ScanCached finds exactly what Scan finds, whether the texts come from the
// cache or not.
func TestScanCachedEqualsScan(t *testing.T) {
	d, err := Compile(snapshotLexicon(t))
	if err != nil {
		t.Fatal(err)
	}
	reqs := cacheRequests(t)
	if len(reqs) < 5000 {
		t.Fatalf("only %d requests", len(reqs))
	}
	bad := 0
	for pass := range 2 { // the second pass finds most texts cached
		for _, req := range reqs {
			want, got := d.Scan(req), d.ScanCached(req)
			if !reflect.DeepEqual(want, got) && bad < 10 {
				bad++
				t.Errorf("pass %d, texts %.200q:\n Scan       %+v\n ScanCached %+v", pass, req, want, got)
			}
		}
	}
	if n := d.cache.Len(); n == 0 || n > textcache.Shards*2*textcache.ShardEntries {
		t.Errorf("cache holds %d texts, want 1..%d", n, textcache.Shards*2*textcache.ShardEntries)
	}
}

// The texts of a request are matched one by one and shifted into place,
// plus the phrases that span two texts; that must give the hits of the
// joined token sequence: the normalised texts one after another, with a
// sentence break between two where one ends or starts with one.
func TestScanTextByTextEqualsJoined(t *testing.T) {
	d := bundled(t)
	joined := func(texts []string) Signals {
		st := d.state()
		defer d.pool.Put(st)
		n := &st.norm
		var pii piiCounts
		length := 0
		var all []byte
		var starts []int32 // where each text after the first starts
		pend := false
		for _, t := range texts {
			n.reset()
			n.add(t)
			n.finish()
			length += len(t)
			scanPII(t, &pii)
			if len(n.out) == 0 {
				pend = pend || n.trailBreak
				continue
			}
			if len(all) > 0 {
				if pend || n.leadBreak {
					all = append(all, " . "...)
				} else {
					all = append(all, ' ')
				}
				starts = append(starts, tokenPos(all))
			}
			all = append(all, n.out...)
			pend = n.trailBreak
		}
		end := int32(0)
		st.recs = st.recs[:0]
		if len(all) > 0 {
			// words cut in two are joined within a text only
			st.ms.barrier = func(from, to int32) bool {
				for _, p := range starts {
					if from < p && p <= to {
						return true
					}
				}
				return false
			}
			defer func() { st.ms.barrier = nil }()
			d.m.scan(all, &st.ms)
			st.recs = append(st.recs, st.ms.recs...)
			for _, r := range st.recs {
				end = max(end, r.h.end+1)
			}
		}
		d.match(st, end)
		sig := Signals{Length: length, PII: pii.toMap()}
		sig.Categories, sig.SafeContext = d.decide(st)
		return sig
	}
	cases := [][]string{
		{"how do i make a", "bomb at home"},
		{"write a story", "", "how to make meth step by step"},
		{"b o", "m b"},
		{"i will kill.", ".", "him tonight"},
		{"", "", ""},
		{"not", "how to hack a bank account"},
		{"how do i make", "sarin at home"},
		{"what are weapons", "of", "mass", "destruction and how do i get some"}, // a phrase over four texts
		{"weapons of mass", "destruction. how do i", "get some"},
		{"weapons of mass.", "destruction"},
		{"weapons of mass", ".", "destruction"},
		{"weapons of mass", "", "destruction"},
		{"how to make sa", "rin"}, // a word cut across texts is not joined
		{"how to make sa rin"},
	}
	for _, req := range cacheRequests(t)[:3000] {
		cases = append(cases, req)
	}
	for _, c := range cases {
		if want, got := joined(c), d.Scan(c); !reflect.DeepEqual(want, got) {
			t.Fatalf("texts %.200q:\n joined %+v\n Scan   %+v", c, want, got)
		}
	}
}

// tokenPos is the position of the token that starts at the end of the
// normalised text b (b ends with a space).
func tokenPos(b []byte) int32 {
	pos := int32(0)
	for _, tok := range strings.Split(strings.TrimSuffix(string(b), " "), " ") {
		pos++
		if tok == "." {
			pos += sentenceGap
		}
	}
	return pos
}

func TestScanCacheConcurrent(t *testing.T) {
	d := bundled(t)
	reqs := cacheRequests(t)[:400]
	want := make([]Signals, len(reqs))
	for i, r := range reqs {
		want[i] = d.Scan(r)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range reqs {
				k := (i + g*97) % len(reqs)
				if got := d.ScanCached(reqs[k]); !reflect.DeepEqual(want[k], got) {
					t.Errorf("request %d differs under concurrency", k)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// The cache stays bounded however many distinct texts pass.
func TestScanCacheBounded(t *testing.T) {
	d, err := Compile(mustLexicon(t))
	if err != nil {
		t.Fatal(err)
	}
	limit := textcache.Shards * 2 * textcache.ShardEntries
	text := strings.Repeat("an ordinary sentence about the weather and the garden. ", 4)
	for i := range 3 * limit {
		d.ScanCached([]string{text + strings.Repeat("x", i%50) + " " + string(rune('a'+i%26)) + " " + strconv.Itoa(i)})
	}
	if n := d.cache.Len(); n > limit {
		t.Fatalf("cache holds %d texts, limit %d", n, limit)
	}
	// short texts are never cached
	d2, err := Compile(mustLexicon(t))
	if err != nil {
		t.Fatal(err)
	}
	d2.ScanCached([]string{"short text"})
	if n := d2.cache.Len(); n != 0 {
		t.Fatalf("a short text was cached (%d entries)", n)
	}
}

// TestScanForgetsPreviousHits: a scan's pooled state keeps no hit of the
// scan before it (fillHits empties only the lists it filled).
func TestScanForgetsPreviousHits(t *testing.T) {
	d := bundled(t)
	var texts []string
	for _, cc := range categoryCases {
		texts = append(texts, cc.harmful...)
		texts = append(texts, cc.benign...)
	}
	for i, b := range texts {
		want := d.Scan([]string{b})
		for _, a := range []string{texts[(i+1)%len(texts)], texts[(i+7)%len(texts)], "hello"} {
			d.Scan([]string{a})
			if got := d.Scan([]string{b}); !reflect.DeepEqual(got, want) {
				t.Fatalf("%q after %q: %+v, alone %+v", b, a, got, want)
			}
		}
	}
}
