package classify

// English share: the lexicon reads English only, so for text in another
// language the learned tier is the only evidence, and a policy may want to
// trust it from a lower score there (settings.model.flag_other_language).
// The share of a window's words that are common English function words
// tells the two apart at the cost of one pass over the folded runes: about
// half the words of English prose are such words, and almost none of any
// other language's (the few spelled alike, such as Italian "i" or Polish
// "to", are single words among many).

// englishFunctionWords is an open-addressing set of the words' hashes (a map
// lookup per word would cost more than the rest of the pass).
var englishFunctionWords = func() (t wordSet) {
	for _, w := range []string{
		"the", "and", "of", "to", "you", "your", "is", "are", "was", "were", "be", "been", "being",
		"what", "how", "why", "who", "which", "where", "when", "with", "this", "that", "these", "those",
		"for", "from", "my", "me", "can", "could", "would", "should", "will", "have", "has", "had",
		"it", "its", "they", "them", "their", "we", "our", "us", "he", "she", "his", "her", "him",
		"not", "or", "if", "at", "by", "about", "into", "there", "some", "any", "do", "does", "did",
		"i", "a", "an", "please", "just", "also", "than", "then", "but", "all", "more", "most",
		"doesnt", "dont", "cant", "im", "ive", "youre", "whats", "write", "tell", "give", "make",
	} {
		t.add(wordHash([]rune(w)))
	}
	return t
}()

type wordSet [256]uint64 // 0: empty; well under half full

func (t *wordSet) add(h uint64) {
	for i := h >> 56; ; i = (i + 1) & 255 {
		if t[i] == 0 || t[i] == h {
			t[i] = h
			return
		}
	}
}

func (t *wordSet) has(h uint64) bool {
	for i := h >> 56; ; i = (i + 1) & 255 {
		switch t[i] {
		case h:
			return true
		case 0:
			return false
		}
	}
}

// wordHash is FNV-1a over a folded word's runes.
func wordHash(w []rune) uint64 {
	h := uint64(14695981039346656037)
	for _, r := range w {
		h ^= uint64(r)
		h *= 1099511628211
	}
	return h
}

// englishShare is the share of the folded window's words (space-separated)
// that are English function words; 0 for a window with no word.
func englishShare(w []rune) float64 {
	words, en := 0, 0
	start := -1
	for i, r := range w {
		if r != ' ' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			words++
			if i-start <= 7 && englishFunctionWords.has(wordHash(w[start:i])) {
				en++
			}
			start = -1
		}
	}
	if start >= 0 {
		words++
		if len(w)-start <= 7 && englishFunctionWords.has(wordHash(w[start:])) {
			en++
		}
	}
	if words == 0 {
		return 0
	}
	return float64(en) / float64(words)
}
