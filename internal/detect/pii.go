package detect

import (
	"math"
	"strings"
)

// PII kinds, as reported in Signals.PII and accepted by Redact.
const (
	PIIEmail  = "email"
	PIIPhone  = "phone"
	PIISSN    = "ssn"
	PIICard   = "card"
	PIIIBAN   = "iban"
	PIIIP     = "ip"
	PIIAPIKey = "api_key"
)

// PIIKinds lists every kind, in a stable order.
var PIIKinds = []string{PIIEmail, PIIPhone, PIISSN, PIICard, PIIIBAN, PIIIP, PIIAPIKey}

type piiKind uint8

const (
	kEmail piiKind = iota
	kPhone
	kSSN
	kCard
	kIBAN
	kIP
	kAPIKey
	nKinds
)

var kindPlaceholder = [nKinds]string{"[EMAIL]", "[PHONE]", "[SSN]", "[CARD]", "[IBAN]", "[IP]", "[API_KEY]"}

type piiCounts [nKinds]int

func (c *piiCounts) toMap() map[string]int {
	m := make(map[string]int, 2)
	for k, n := range c {
		if n > 0 {
			m[PIIKinds[k]] = n
		}
	}
	return m
}

func scanPII(s string, c *piiCounts) {
	findPII(s, func(k piiKind, _, _ int) { c[k]++ })
}

// Redact replaces PII of the given kinds with [EMAIL], [PHONE], [SSN],
// [CARD], [IBAN], [IP] or [API_KEY]. No kinds means every kind; unknown
// kinds are ignored. Text without PII is returned as is, without copying.
func (d *Detector) Redact(text string, kinds []string) string {
	return Redact(text, kinds)
}

// Redact is Detector.Redact; PII detection needs no lexicon.
func Redact(text string, kinds []string) string {
	var want [nKinds]bool
	if len(kinds) == 0 {
		for k := range want {
			want[k] = true
		}
	}
	for _, k := range kinds {
		for i, name := range PIIKinds {
			if k == name {
				want[i] = true
			}
		}
	}
	var b strings.Builder
	last := 0
	findPII(text, func(k piiKind, start, end int) {
		if !want[k] {
			return
		}
		if b.Len() == 0 {
			b.Grow(len(text))
		}
		b.WriteString(text[last:start])
		b.WriteString(kindPlaceholder[k])
		last = end
	})
	if last == 0 && b.Len() == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool { return isDigit(c) || isLetterByte(c) }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

// keyChar is a character of an API key or token body.
func keyChar(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

// Byte classes for the PII scan: most bytes (spaces, punctuation, letters
// inside words) are skipped with one table lookup.
const (
	pcNone   = iota // cannot start or trigger anything
	pcWord          // letter or digit: may start a token
	pcStart         // '+', '(' or '-': may start a phone number or a PEM header
	pcAt            // '@': e-mail
	pcAssign        // '=' or ':': key=value secrets
)

var piiClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = pcWord
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = pcWord
		t[c-'a'+'A'] = pcWord
	}
	t['+'], t['('], t['-'] = pcStart, pcStart, pcStart
	t['@'] = pcAt
	t['='], t[':'] = pcAssign, pcAssign
	return
}()

// findPII calls emit for every PII span in s, in order and without overlap.
// Every candidate is parsed over a bounded length from a token start, so the
// whole pass is linear.
func findPII(s string, emit func(k piiKind, start, end int)) {
	pemEnd := -2 // cached index of the next "-----END" (-1: none), for linearity
	last := 0    // end of the last emitted span
	for i := 0; i < len(s); {
		c := s[i]
		switch piiClass[c] {
		case pcNone:
			i++
			for i < len(s) && piiClass[s[i]] == pcNone {
				i++
			}
			continue
		case pcWord:
			if i > 0 && isAlnum(s[i-1]) {
				// inside a word or number: nothing starts here, nor at
				// the letters and digits that follow
				i++
				for i < len(s) && piiClass[s[i]] == pcWord {
					i++
				}
				continue
			}
		case pcAt:
			if i > last {
				if st, en, ok := email(s, i, last); ok {
					emit(kEmail, st, en)
					last, i = en, en
					continue
				}
			}
			i++
			continue
		case pcAssign:
			if i > 0 {
				if st, en, ok := assignedSecret(s, i); ok && st >= last {
					emit(kAPIKey, st, en)
					last, i = en, en
					continue
				}
			}
			i++
			continue
		}
		startOfToken := i == 0 || !isAlnum(s[i-1]) && s[i-1] != '_' && s[i-1] != '-'
		if !startOfToken {
			i++
			continue
		}
		if c == '-' && strings.HasPrefix(s[i:], "-----BEGIN ") {
			// the header line is short; bound the search so a megabyte
			// without newlines stays linear
			lineEnd := strings.IndexByte(s[i:min(len(s), i+100)], '\n')
			if lineEnd < 0 {
				lineEnd = min(len(s)-i, 100)
			}
			header := s[i : i+lineEnd]
			if strings.Contains(header, "PRIVATE KEY") {
				if pemEnd == -2 || pemEnd >= 0 && pemEnd < i {
					if j := strings.Index(s[i:], "-----END "); j >= 0 {
						pemEnd = i + j
					} else {
						pemEnd = -1
					}
				}
				end := i + lineEnd
				if pemEnd > i {
					end = pemEnd + len("-----END ")
					for end < len(s) && s[end] != '\n' {
						end++
					}
				}
				emit(kAPIKey, i, end)
				last, i = end, end
				continue
			}
		}
		if keyFirst[c] {
			if en := apiKey(s, i); en > 0 {
				emit(kAPIKey, i, en)
				last, i = en, en
				continue
			}
		}
		if isDigit(c) || c == '+' || c == '(' {
			if k, en := number(s, i); en > 0 {
				emit(k, i, en)
				last, i = en, en
				continue
			}
		}
		if isLetterByte(c) && i+3 < len(s) && isDigit(s[i+2]) {
			if en := iban(s, i); en > 0 {
				emit(kIBAN, i, en)
				last, i = en, en
				continue
			}
		}
		i++
		if piiClass[c] == pcWord {
			// the rest of the word: nothing starts inside it
			for i < len(s) && piiClass[s[i]] == pcWord {
				i++
			}
		}
	}
}

// email: s[at] == '@'; the local part is found backwards, not before floor.
func email(s string, at, floor int) (int, int, bool) {
	st := at
	for st > floor && at-st < 64 {
		c := s[st-1]
		if isAlnum(c) || strings.IndexByte("._%+-", c) >= 0 {
			st--
			continue
		}
		break
	}
	if st == at || s[st] == '.' {
		return 0, 0, false
	}
	en, dots, lastDot := at+1, 0, -1
	for en < len(s) && en-at < 255 {
		c := s[en]
		if isAlnum(c) || c == '-' {
			en++
		} else if c == '.' && en+1 < len(s) && isAlnum(s[en+1]) && s[en-1] != '.' && en > at+1 {
			dots++
			lastDot = en
			en++
		} else {
			break
		}
	}
	// The address ends at the last label that can be a top-level domain
	// (two letters or more): "jane@example.com.4111" holds
	// "jane@example.com".
	for dots > 0 {
		tld := s[lastDot+1 : en]
		if len(tld) >= 2 && allLetters(tld) {
			return st, en, true
		}
		en, dots = lastDot, dots-1
		lastDot = strings.LastIndexByte(s[at+1:en], '.')
		if lastDot >= 0 {
			lastDot += at + 1
		}
	}
	return 0, 0, false
}

func allLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isLetterByte(s[i]) {
			return false
		}
	}
	return true
}

var keyPrefixes = []struct {
	prefix string
	min    int // minimum body length after the prefix
}{
	{"sk-or-v1-", 32}, {"sk-ant-", 20}, {"sk-proj-", 20}, {"sk-", 20},
	{"AKIA", 16}, {"ASIA", 16},
	{"ghp_", 30}, {"gho_", 30}, {"ghu_", 30}, {"ghs_", 30}, {"ghr_", 30}, {"github_pat_", 30},
	{"xoxb-", 10}, {"xoxp-", 10}, {"xoxa-", 10}, {"xoxs-", 10}, {"xapp-", 10},
	{"AIza", 30}, {"glpat-", 20}, {"hf_", 30},
}

// keyFirst marks the first bytes of the key prefixes apiKey knows, so most
// tokens skip the call.
var keyFirst = func() (t [256]bool) {
	for _, p := range keyPrefixes {
		t[p.prefix[0]] = true
	}
	return
}()

// apiKey returns the end of a known-format key starting at i, or 0.
func apiKey(s string, i int) int {
	if i+3 >= len(s) {
		return 0
	}
	// cheap gate on the first two bytes before trying the prefixes
	switch s[i] {
	case 's':
		if s[i+1] != 'k' || s[i+2] != '-' {
			return 0
		}
	case 'A':
		if s[i+1] != 'K' && s[i+1] != 'S' && s[i+1] != 'I' {
			return 0
		}
	case 'g':
		if s[i+1] != 'h' && s[i+1] != 'i' && s[i+1] != 'l' {
			return 0
		}
	case 'x':
		if s[i+1] != 'o' && s[i+1] != 'a' {
			return 0
		}
	case 'h':
		if s[i+1] != 'f' || s[i+2] != '_' {
			return 0
		}
	default:
		return 0
	}
	for _, p := range keyPrefixes {
		if !strings.HasPrefix(s[i:], p.prefix) {
			continue
		}
		j := i + len(p.prefix)
		for j < len(s) && keyChar(s[j]) && j-i < 512 {
			j++
		}
		body := s[i+len(p.prefix) : j]
		if len(body) < p.min {
			return 0
		}
		if p.prefix == "AKIA" || p.prefix == "ASIA" {
			for k := 0; k < 16; k++ {
				if !isUpper(body[k]) && !isDigit(body[k]) {
					return 0
				}
			}
			if len(body) != 16 {
				return 0
			}
		} else if !mixed(body) {
			return 0 // "sk-this-is-not-a-key-but-prose"
		}
		return j
	}
	return 0
}

// mixed reports whether a token body looks random: digits and letters, or
// both cases, and no long words of prose.
func mixed(b string) bool {
	var lower, upper, digit bool
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case isDigit(c):
			digit = true
		case isUpper(c):
			upper = true
		case 'a' <= c && c <= 'z':
			lower = true
		}
	}
	return digit && (lower || upper) || lower && upper
}

var secretNames = []string{"key", "token", "secret", "password", "passwd", "pwd", "apikey", "api_key", "access_token", "auth", "credential", "credentials", "bearer"}

// assignedSecret: s[i] is '=' or ':'; a secret-ish name before it and a
// high-entropy value after it make a secret. Returns the value's span.
func assignedSecret(s string, i int) (int, int, bool) {
	// name: skip quotes and spaces backwards, then read the word
	j := i
	for j > 0 && i-j < 3 && (s[j-1] == ' ' || s[j-1] == '"' || s[j-1] == '\'') {
		j--
	}
	k := j
	for k > 0 && j-k < 40 && (isAlnum(s[k-1]) || s[k-1] == '_' || s[k-1] == '-') {
		k--
	}
	name := strings.ToLower(s[k:j])
	ok := false
	for _, n := range secretNames {
		if strings.HasSuffix(name, n) {
			ok = true
			break
		}
	}
	if !ok {
		return 0, 0, false
	}
	v := i + 1
	for v < len(s) && v-i < 4 && (s[v] == ' ' || s[v] == '"' || s[v] == '\'') {
		v++
	}
	e := v
	for e < len(s) && e-v < 512 && (keyChar(s[e]) || strings.IndexByte("+/=.~", s[e]) >= 0) {
		e++
	}
	for e > v && (s[e-1] == '.' || s[e-1] == '=') && e-v > 16 && s[e-1] == '.' {
		e--
	}
	val := s[v:e]
	if len(val) < 16 || !mixed(val) || entropy(val) < 3.0 {
		return 0, 0, false
	}
	return v, e, true
}

// entropy is the Shannon entropy of b in bits per byte.
func entropy(b string) float64 {
	var counts [256]int
	for i := 0; i < len(b); i++ {
		counts[b[i]]++
	}
	h := 0.0
	n := float64(len(b))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// number classifies a run starting with a digit, '+' or '(' as an IP
// address, SSN, card number (Luhn) or phone number. Returns end 0 if none.
func number(s string, i int) (piiKind, int) {
	if isDigit(s[i]) {
		if en := ipv4(s, i); en > 0 {
			return kIP, en
		}
		if en := ssn(s, i); en > 0 {
			return kSSN, en
		}
		if en := card(s, i); en > 0 {
			return kCard, en
		}
	}
	if en := phone(s, i); en > 0 {
		return kPhone, en
	}
	return 0, 0
}

// endsNumber: no digit, letter or ".digit" continues the match at j.
func endsNumber(s string, j int) bool {
	if j >= len(s) {
		return true
	}
	if isAlnum(s[j]) || s[j] == '_' {
		return false
	}
	if (s[j] == '.' || s[j] == '-') && j+1 < len(s) && isDigit(s[j+1]) {
		return false
	}
	return true
}

func ipv4(s string, i int) int {
	j := i
	for part := 0; part < 4; part++ {
		if part > 0 {
			if j >= len(s) || s[j] != '.' {
				return 0
			}
			j++
		}
		v, n := 0, 0
		for j < len(s) && isDigit(s[j]) && n < 4 {
			v = v*10 + int(s[j]-'0')
			j++
			n++
		}
		if n == 0 || n > 3 || v > 255 || n > 1 && s[j-n] == '0' {
			return 0
		}
	}
	if !endsNumber(s, j) {
		return 0
	}
	return j
}

// ssn: AAA-GG-SSSS (or spaces), with the never-issued ranges excluded.
func ssn(s string, i int) int {
	if i+11 > len(s) {
		return 0
	}
	t := s[i : i+11]
	sep := t[3]
	if sep != '-' && sep != ' ' || t[6] != sep {
		return 0
	}
	for _, k := range []int{0, 1, 2, 4, 5, 7, 8, 9, 10} {
		if !isDigit(t[k]) {
			return 0
		}
	}
	if !endsNumber(s, i+11) {
		return 0
	}
	area := t[:3]
	if area == "000" || area == "666" || area[0] == '9' || t[4:6] == "00" || t[7:] == "0000" {
		return 0
	}
	return i + 11
}

// card: 13-19 digits, optionally grouped by single spaces or dashes, that
// pass the Luhn check.
func card(s string, i int) int {
	var digits [19]byte
	n, j, end := 0, i, 0
	for j < len(s) {
		c := s[j]
		if isDigit(c) {
			if n == 19 {
				return 0
			}
			digits[n] = c - '0'
			n++
			j++
			end = j
			continue
		}
		if (c == ' ' || c == '-') && j+1 < len(s) && isDigit(s[j+1]) && j > i && isDigit(s[j-1]) {
			j++
			continue
		}
		break
	}
	if n < 13 || !endsNumber(s, end) {
		return 0
	}
	sum := 0
	for k := 0; k < n; k++ {
		d := int(digits[n-1-k])
		if k%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	if sum%10 != 0 {
		return 0
	}
	return end
}

// phone: an optional +, 10-15 digits with the usual separators. Without a +
// or separators only 10 or 11 digits count, so long numbers of other kinds
// are left alone.
func phone(s string, i int) int {
	j, n, seps := i, 0, 0
	plus := s[i] == '+'
	if plus || s[i] == '(' {
		j++
	}
	end := 0
	for j < len(s) && j-i < 24 {
		c := s[j]
		if isDigit(c) {
			n++
			j++
			end = j
			continue
		}
		if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') && j+1 < len(s) && (isDigit(s[j+1]) || s[j+1] == '(' || c == ')' && s[j+1] == ' ') {
			seps++
			j++
			continue
		}
		break
	}
	if end == 0 || n < 10 || n > 15 || !endsNumber(s, end) {
		return 0
	}
	if !plus && seps == 0 && n > 11 {
		return 0
	}
	return end
}

// iban: country code, check digits, 11-30 letters/digits (groups of four
// may be separated by single spaces); valid when mod 97 == 1.
func iban(s string, i int) int {
	if i+4 > len(s) || !isLetterByte(s[i]) || !isLetterByte(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
		return 0
	}
	// both letters must have the same case, as written in IBANs
	if isUpper(s[i]) != isUpper(s[i+1]) {
		return 0
	}
	var body [34]byte
	n, j, end := 0, i, 0
	for j < len(s) && n < 34 {
		c := s[j]
		if isAlnum(c) {
			body[n] = c
			n++
			j++
			end = j
			continue
		}
		if c == ' ' && j+1 < len(s) && isAlnum(s[j+1]) && n%4 == 0 {
			j++
			continue
		}
		break
	}
	if n < 15 || end < len(s) && (isAlnum(s[end]) || s[end] == '_') {
		return 0
	}
	// rearranged: body[4:] then body[:4]; letters count as two digits
	rem := 0
	add := func(c byte) bool {
		switch {
		case isDigit(c):
			rem = (rem*10 + int(c-'0')) % 97
		case isUpper(c):
			rem = (rem*100 + int(c-'A'+10)) % 97
		case 'a' <= c && c <= 'z':
			rem = (rem*100 + int(c-'a'+10)) % 97
		default:
			return false
		}
		return true
	}
	for k := 4; k < n; k++ {
		add(body[k])
	}
	for k := 0; k < 4; k++ {
		add(body[k])
	}
	if rem != 1 {
		return 0
	}
	return end
}

func (c *piiCounts) add(o *piiCounts) {
	for k, n := range o {
		c[k] += n
	}
}
