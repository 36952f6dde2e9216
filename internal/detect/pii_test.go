package detect

import (
	"strings"
	"testing"
)

func piiOf(s string) map[string]int {
	var c piiCounts
	scanPII(s, &c)
	return c.toMap()
}

func TestPIIKinds(t *testing.T) {
	cases := []struct {
		text string
		want map[string]int
	}{
		{"write to jane.doe+news@mail.example.co.uk today", map[string]int{"email": 1}},
		// the address ends at its last possible top-level domain (fuzz)
		{"jane@example.com.4111 then", map[string]int{"email": 1}},
		{"a@b.c1", map[string]int{}},
		{"a@b is not an address, nor is x@y.z", map[string]int{}},
		{"call +1 415 555 0100 or (415) 555-0199", map[string]int{"phone": 2}},
		{"call 4155550100", map[string]int{"phone": 1}},
		{"order 88231 shipped in 2024", map[string]int{}},
		{"SSN 123-45-6789", map[string]int{"ssn": 1}},
		{"never issued: 000-12-3456, 666-12-3456, 912-34-5678, 123-00-4567, 123-45-0000", map[string]int{}},
		// Luhn: the first passes, the second (last digit changed) does not
		{"card 4111 1111 1111 1111", map[string]int{"card": 1}},
		{"card 4111-1111-1111-1112", map[string]int{}},
		{"amex 378282246310005", map[string]int{"card": 1}},
		// IBAN mod-97: valid, then one digit changed
		{"pay GB82 WEST 1234 5698 7654 32 now", map[string]int{"iban": 1}},
		{"pay DE89370400440532013000 now", map[string]int{"iban": 1}},
		{"pay GB82WEST12345698765433 now", map[string]int{}},
		{"server 192.168.1.20 and 10.0.0.1", map[string]int{"ip": 2}},
		{"version 1.2.3 and 999.1.1.1 and 01.2.3.4", map[string]int{}},
		{"key sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef", map[string]int{"api_key": 1}},
		{"aws AKIAIOSFODNN7EXAMPLE", map[string]int{"api_key": 1}},
		{"token ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5", map[string]int{"api_key": 1}},
		{"sk-this-is-just-a-long-hyphenated-phrase", map[string]int{}},
		{`password = "Xk9mQ2vL8pR4tZ7wN1bq"`, map[string]int{"api_key": 1}},
		{"password: hunter2", map[string]int{}},
		{"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", map[string]int{"api_key": 1}},
	}
	for _, c := range cases {
		got := piiOf(c.text)
		if len(got) != len(c.want) {
			t.Errorf("%q: got %v, want %v", c.text, got, c.want)
			continue
		}
		for k, n := range c.want {
			if got[k] != n {
				t.Errorf("%q: got %v, want %v", c.text, got, c.want)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	in := "Mail jane@example.com, call +1 415 555 0100, card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE."
	all := Redact(in, nil)
	want := "Mail [EMAIL], call [PHONE], card [CARD], key [API_KEY]."
	if all != want {
		t.Errorf("Redact all:\n got %q\nwant %q", all, want)
	}
	some := Redact(in, []string{"email", "card", "no_such_kind"})
	want = "Mail [EMAIL], call +1 415 555 0100, card [CARD], key AKIAIOSFODNN7EXAMPLE."
	if some != want {
		t.Errorf("Redact email,card:\n got %q\nwant %q", some, want)
	}
	for _, s := range []string{"", "nothing personal here", "IBAN GB82WEST12345698765433 (invalid)"} {
		if got := Redact(s, nil); got != s {
			t.Errorf("Redact(%q) = %q", s, got)
		}
	}
	d := bundled(t)
	if got := d.Redact("ssn 123-45-6789, ip 8.8.8.8, iban DE89370400440532013000", nil); got != "ssn [SSN], ip [IP], iban [IBAN]" {
		t.Errorf("Detector.Redact: %q", got)
	}
	// redacted text has no PII left
	if got := piiOf(all); len(got) != 0 {
		t.Errorf("PII left after redaction: %v", got)
	}
}

// Redaction of a large text allocates once for the result, whatever the
// number of matches: no per-match garbage.
func TestRedactAllocations(t *testing.T) {
	text := strings.Repeat("contact jane@example.com or 4111 1111 1111 1111; ", 2000)
	allocs := testing.AllocsPerRun(5, func() { Redact(text, nil) })
	if allocs > 3 {
		t.Errorf("Redact allocated %.0f times", allocs)
	}
}
