package compliance

import (
	"encoding/json"
	"path"
	"sort"
	"sync"

	"github.com/aupguard/aupguard/internal/store"
)

// Policy is the policy bundle in force (the policy engine).
type Policy interface {
	Hash() string
	Files() map[string][]byte
}

// category is what a ground quotes of data.aup.categories.C.
type category struct {
	Title         string `json:"title"`
	AUPClause     string `json:"aup_clause"`
	OperatorTerms string `json:"operator_terms"`
}

type taxonomy struct {
	cats map[string]category
	// apps.NAME.categories.C.operator_terms: an app's own terms win.
	apps map[string]map[string]category
}

type taxonomyCache struct {
	mu   sync.Mutex
	hash string
	t    *taxonomy
}

// taxonomy parses data.aup of the bundle in force, once per version.
func (s *Service) taxonomy() *taxonomy {
	if s.opt.Policy == nil {
		return &taxonomy{}
	}
	h := s.opt.Policy.Hash()
	s.tax.mu.Lock()
	defer s.tax.mu.Unlock()
	if s.tax.t != nil && s.tax.hash == h {
		return s.tax.t
	}
	t := parseTaxonomy(s.opt.Policy.Files())
	s.tax.hash, s.tax.t = h, t
	return t
}

func parseTaxonomy(files map[string][]byte) *taxonomy {
	t := &taxonomy{cats: map[string]category{}, apps: map[string]map[string]category{}}
	for name, b := range files {
		if path.Base(name) != "data.json" || path.Dir(name) != "aup" {
			continue
		}
		var doc struct {
			Categories map[string]category `json:"categories"`
			Apps       map[string]struct {
				Categories map[string]category `json:"categories"`
			} `json:"apps"`
		}
		if json.Unmarshal(b, &doc) != nil {
			continue
		}
		for id, c := range doc.Categories {
			t.cats[id] = c
		}
		for app, a := range doc.Apps {
			t.apps[app] = a.Categories
		}
	}
	return t
}

// grounds quotes the taxonomy for each category of a restriction.
func (t *taxonomy) grounds(app string, cats []string) []store.Ground {
	out := []store.Ground{}
	for _, id := range store.Uniq(cats) {
		c := t.cats[id]
		g := store.Ground{Category: id, Title: c.Title, AUPClause: c.AUPClause, OperatorTerms: c.OperatorTerms}
		if o := t.apps[app][id]; o.OperatorTerms != "" {
			g.OperatorTerms = o.OperatorTerms
		}
		out = append(out, g)
	}
	return out
}

// known reports whether id is a category (true when no taxonomy is known).
func (t *taxonomy) known(id string) bool {
	if len(t.cats) == 0 {
		return true
	}
	_, ok := t.cats[id]
	return ok
}

func (t *taxonomy) ids() []string {
	out := make([]string, 0, len(t.cats))
	for id := range t.cats {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
