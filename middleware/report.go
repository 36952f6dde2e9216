package middleware

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/store"
)

// defaultExcerptBytes bounds a report's redacted excerpt when a step's
// ExcerptBytes is 0.
const defaultExcerptBytes = 200

// reportBuilder builds the report of every violation the chain finds:
// in the request (Inspect), in the answer (AnswerCheck) and in the
// upstream's moderation refusal (Forward), so they all carry the same
// fields, filled the same way.
type reportBuilder struct {
	digester     Digester // nil: no digest
	excerptBytes int      // < 0: no excerpt
}

// newReportBuilder reads a step's options: excerptBytes 0 is the default,
// negative means no excerpt at all.
func newReportBuilder(dg Digester, excerptBytes int) reportBuilder {
	if excerptBytes == 0 {
		excerptBytes = defaultExcerptBytes
	}
	return reportBuilder{digester: dg, excerptBytes: excerptBytes}
}

// build is the report of the violation d found in texts of the request:
// who sent it, the keyed digest and length of texts, a redacted excerpt
// (never under ZDR) and what d decided.
func (b reportBuilder) build(st *State, source string, texts []string, redact func(string) string, d policy.Decision) store.Report {
	r := store.Report{
		ID: newReportID(), Time: Now().UTC(), Source: source, ZDR: st.ZDR,
		Pseudonym: st.Pseudonym, User: st.EndUser,
		DecisionID: d.ID, Action: string(d.Action), Categories: d.Categories, Severity: d.Severity,
		Rules: d.Rules, Strike: d.Strike, PolicyHash: d.PolicyHash, Unscanned: d.Unscanned,
	}
	if st.App != nil {
		r.App = st.App.Name
	}
	if st.Request != nil {
		r.Model = st.Request.Model
	}
	for _, t := range texts {
		r.Length += len(t)
	}
	if b.digester != nil {
		r.Digest = b.digester.Digest(texts...)
	}
	if !st.ZDR && b.excerptBytes > 0 {
		r.Excerpt = excerpt(texts, b.excerptBytes, redact)
	}
	return r
}

// requestTexts is every text of the request, whoever wrote it: what
// reports found after forwarding describe.
func requestTexts(st *State) []string {
	texts := make([]string, len(st.Request.Texts))
	for i := range st.Request.Texts {
		texts[i] = st.Request.Texts[i].Text
	}
	return texts
}

func excerpt(texts []string, n int, redact func(string) string) string {
	var b strings.Builder
	for _, t := range texts {
		if b.Len() >= n*2 {
			break
		}
		if b.Len() > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(t)
	}
	s := b.String()
	if len(s) > n*2 {
		s = s[:n*2] // redaction needs some context past the cut
	}
	if redact != nil {
		s = redact(s)
	}
	if len(s) > n {
		s = s[:n]
	}
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s
}

var idEnc = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newReportID is sortable by time (48-bit milliseconds first) and unique
// (80 random bits): 26 characters of Crockford-style base32.
func newReportID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return idEnc.EncodeToString(b[:])
}

// operatorReportID is newReportID's format with the hour for the time and
// a hash of key (app, keyed digest, policy hash) for the random part: the
// same operator text gives the same id all hour, and the store records it
// once.
func operatorReportID(hour time.Time, key string) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(hour.UnixMilli())<<16)
	h := sha256.Sum256([]byte(key))
	copy(b[6:], h[:10])
	return idEnc.EncodeToString(b[:])
}
