package detect

import (
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// TestDecompositionInPlace holds the normaliser's in-place decomposition
// (Properties.Decomposition, no allocation) to what norm.NFKD.Append
// gives, in the ASCII the normaliser keeps of it, for every letter and
// number in Unicode.
func TestDecompositionInPlace(t *testing.T) {
	ascii := func(d []byte) string {
		var out []byte
		for _, c := range d {
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
				out = append(out, c)
			}
		}
		return string(out)
	}
	n, bad := 0, 0
	for r := rune(utf8.RuneSelf); r <= unicode.MaxRune; r++ {
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) {
			continue
		}
		n++
		var enc [utf8.UTFMax]byte
		w := utf8.EncodeRune(enc[:], r)
		d := norm.NFKD.Properties(enc[:w]).Decomposition()
		if d == nil {
			d = enc[:w]
		}
		if got, want := ascii(d), ascii(norm.NFKD.Append(nil, enc[:w]...)); got != want && bad < 10 {
			bad++
			t.Errorf("%U %q: in place %q, Append %q", r, r, got, want)
		}
	}
	if n < 100000 {
		t.Fatalf("only %d letters and numbers", n)
	}
}
