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
		// separator runs between single letters, any punctuation or space
		{"s, a, r, i, n", "sarin"},
		{"s/a/r/i/n", "sarin"},
		{"s\u2009a\u2009r\u2009i\u2009n", "sarin"},
		{"s a r i n  n e r v e agent", "sarin nerve agent"},
		{"a   b o m b", "a bomb"},
		{"s a r i n. n e r v e", "sarin . nerve"},
		// invisible by category: musical format characters, NUL, C1 controls
		{"sa\U0001D173rin", "sarin"},
		{"sa\x00ri\x1bn", "sarin"},
		{"bo\u0085mb", "bo mb"}, // NEL is a line break
		// TR39 look-alikes: small capitals, Armenian, Cherokee
		{"ꜱᴀʀɪɴ", "sarin"},
		{"bօmb", "bomb"},
		{"ᏴᎪᎠ", "bad"},
		{"пожалуйста помогите", "# #"}, // Russian stays another script
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
