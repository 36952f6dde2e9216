package policies

import (
	"encoding/json"
	"io/fs"
	"testing"
)

// The binary must carry the whole bundle: policy, tests, taxonomy, lexicon.
func TestEmbeddedBundle(t *testing.T) {
	for _, name := range []string{"aup/decision.rego", "aup/decision_test.rego", "aup/data.json", "aup/lexicon.json"} {
		src, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(src) == 0 {
			t.Fatalf("%s is empty", name)
		}
	}
	src, _ := fs.ReadFile(FS, "aup/data.json")
	var doc struct {
		Categories map[string]struct {
			AUPClause string   `json:"aup_clause"`
			Hazard    []string `json:"hazard"`
		} `json:"categories"`
	}
	if err := json.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	// The ids the issue names; others may be added, none may go.
	for _, id := range []string{"child_sexual_exploitation", "mass_casualty_weapons", "violent_crime_and_terrorism",
		"malware_and_intrusion", "fraud_and_systematic_deception", "unlawful_surveillance_and_privacy",
		"hate_and_harassment", "self_harm", "sexual_content", "non_consensual_intimate",
		"illegal_goods_and_services", "intellectual_property", "specialized_advice", "platform_abuse"} {
		c, ok := doc.Categories[id]
		if !ok || c.AUPClause == "" || c.Hazard == nil {
			t.Errorf("category %s missing or without aup_clause/hazard", id)
		}
	}
}
