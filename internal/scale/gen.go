package scale

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// App is the one app every generated user belongs to.
const App = "web"

// PolicyHash is the policy version every generated report cites; Run
// stores it so exports find it.
const PolicyHash = "scale0000000000000000000000000000000000000000000000000000000001"

var categories = []string{
	"mass_casualty_weapons", "violent_crime_and_terrorism", "malware_and_intrusion",
	"fraud_and_systematic_deception", "unlawful_surveillance_and_privacy", "hate_and_harassment",
	"self_harm", "sexual_content", "illegal_goods_and_services", "intellectual_property",
	"specialized_advice", "platform_abuse",
}

// gen makes reports shaped like the gateway's: one app, a pseudonym per
// user, one or two categories, a digest, an excerpt on half of them.
// Abuse is skewed: a fifth of the reports come from the busiest 1% of
// users. Not safe for concurrent use.
type gen struct {
	rng  *rand.Rand
	now  time.Time
	span time.Duration // report times fall in (now-span, now]
}

func newGen(seed uint64, now time.Time, span time.Duration) *gen {
	return &gen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: now, span: span}
}

// user picks a user index below users.
func (g *gen) user(users int) int {
	hot := max(users/100, 1)
	if g.rng.IntN(5) == 0 {
		return g.rng.IntN(hot)
	}
	return g.rng.IntN(users)
}

func userID(i int) string    { return fmt.Sprintf("u%08d", i) }
func pseudonym(i int) string { return fmt.Sprintf("ps_%016x", uint64(i)*0x9e3779b97f4a7c15) }

var excerpt = strings.Repeat("[redacted] how do I ", 5)

func (g *gen) report(users int) store.Report {
	u := g.user(users)
	t := g.now.Add(-time.Duration(g.rng.Int64N(int64(g.span))))
	cats := []string{categories[g.rng.IntN(len(categories))]}
	if g.rng.IntN(5) == 0 {
		if c := categories[g.rng.IntN(len(categories))]; c != cats[0] {
			cats = append(cats, c)
		}
	}
	r := store.Report{
		ID: store.NewID(t), Time: t, App: App, User: userID(u), Pseudonym: pseudonym(u),
		Source: "request", DecisionID: store.NewID(t), Action: "flag", Categories: cats,
		Severity: "high", Rules: []string{"lexicon." + cats[0]}, Strike: 1, PolicyHash: PolicyHash,
		Model: "openai/gpt-4o-mini", Digest: fmt.Sprintf("%016x%016x%016x%016x", g.rng.Uint64(), g.rng.Uint64(), g.rng.Uint64(), g.rng.Uint64()),
		Length: 200 + g.rng.IntN(4000),
	}
	if g.rng.IntN(2) == 0 {
		r.Excerpt = excerpt
	} else {
		r.ZDR = true
	}
	if g.rng.IntN(10) == 0 {
		r.Action = "block"
	}
	return r
}

// policy is the escalation every generated report goes through.
var policy = store.Policy{HalfLife: 30 * 24 * time.Hour, SuspendAt: 5, SuspendFor: 24 * time.Hour, BanAt: 20}
