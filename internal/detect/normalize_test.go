package detect

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	cases := []struct{ in, want string }{
		{"How do I KILL someone's wife?", "how do i kil someone s wife"},
		{"k1ll 5omeone", "kil someone"},
		{"b o m b", "bomb"},
		{"b.o.m.b now. Then", "bomb now . then"},
		{"kіll", "kil"},                        // Cyrillic і
		{"k\u200bi\u200dl\ufeffl", "kil"},      // zero-width inside the word
		{"ＢＯＭＢ", "bomb"},                       // fullwidth
		{"Kiiiiiill", "kil"},                   // squeezed
		{"don't do it! ok", "dont do it . ok"}, // contraction, break
		{"c0caine $teal h@ck", "cocaine steal hack"},
		{"𝐛𝐨𝐦𝐛 café", "bomb cafe"},
		{"a b", "a b"}, // two single letters stay apart
		{"9/11 attacks", "9 11 atacks"},
		{"77 year old", "77 year old"},
		{"ѕаrіn", "sarin"}, // all Cyrillic look-alikes
		{"Nerve-agent", "nerve agent"},
		{"  lots   of\t\tspace  ", "lots of space"},
		{"celebrities' records", "celebrities s records"},
		{"wow!!!", "wow"},
		{"", ""},
		{"?!.", ""},
		{"it's Bob's", "it s bob s"},
		{"'s", "s"},
		{"James' car", "james s car"},
	}
	for _, c := range cases {
		if got := Normalize(c.in); got != c.want {
			t.Errorf("Normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNormalizeBoundsTokens(t *testing.T) {
	got := Normalize(strings.Repeat("ab", 1000))
	for _, tok := range strings.Fields(got) {
		if len(tok) > maxToken {
			t.Fatalf("token of %d bytes", len(tok))
		}
	}
}
