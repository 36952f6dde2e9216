package evidence

import "time"

// Format identifies the bundle layout; a verifier refuses formats it does not know.
const Format = "aupguard-evidence/1"

// Genesis is the prev of the first line of every chain: 64 zeros. The
// chains are bound to the bundle by the signed manifest (head, line count,
// file hash), not by the genesis value.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Names of the fixed files in a bundle.
const (
	ManifestFile  = "manifest.json"
	SignatureFile = "manifest.sig"
	ReportsFile   = "reports.jsonl"
	ActionsFile   = "actions.jsonl"
	SummaryFile   = "summary.html"
	PoliciesDir   = "policies/"
)

// TransparencyFile is the transparency report of the bundle's own records
// (internal/transparency), listed and hashed like every file; bundles made
// before it existed lack it and still verify.
const TransparencyFile = "transparency.json"

// Manifest is manifest.json. manifest.sig holds the 64-byte Ed25519
// signature of manifest.json's exact bytes.
type Manifest struct {
	Format    string    `json:"format"`
	Generator string    `json:"generator"`
	CreatedAt time.Time `json:"created_at"`
	Filter    Filter    `json:"filter"`
	// ZDR says the exporting gateway ran in zero-data-retention mode: the
	// bundle holds no prompt or answer text (excerpts are withheld).
	ZDR      bool          `json:"zdr"`
	Counts   Counts        `json:"counts"`
	Chains   []Chain       `json:"chains"`
	Files    []File        `json:"files"` // every file of the bundle but manifest.json and manifest.sig
	Policies []PolicyEntry `json:"policies"`
	// PublicKey is the signer's Ed25519 public key, standard base64. A
	// signature that verifies only against this embedded key proves the
	// bundle is intact, not who made it; origin needs the operator's
	// public key obtained separately (verify --pubkey).
	PublicKey      string `json:"public_key"`
	KeyFingerprint string `json:"key_fingerprint"`
}

// Counts are the numbers of records in the bundle.
type Counts struct {
	Reports        int `json:"reports"`
	Actions        int `json:"actions"`
	PolicyVersions int `json:"policy_versions"`
	// ExcerptsWithheld counts reports whose excerpt was dropped because
	// the export or the report was made in ZDR mode.
	ExcerptsWithheld int `json:"excerpts_withheld,omitempty"`
	// Records counts the lines of each extra chain (statements.jsonl,
	// appeals.jsonl, notices.jsonl).
	Records map[string]int `json:"records,omitempty"`
}

// Chain describes one hash-chained JSON-lines file: every line is a JSON
// object whose "prev" is the hex SHA-256 of the previous line's bytes
// (without its newline); the first line's prev is Genesis.
type Chain struct {
	File    string `json:"file"`
	Lines   int    `json:"lines"`
	Genesis string `json:"genesis"`
	Head    string `json:"head"` // SHA-256 of the last line; Genesis when empty
}

// File is one file of the bundle and its hash.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// PolicyEntry is one policy version held under policies/<hash>/: every
// version a report of the bundle cites (Verify checks that none is missing).
type PolicyEntry struct {
	Hash string `json:"hash"`
	// From is when a gateway sharing the store first loaded the version.
	// Replicas may run two versions side by side during a rollout, so a
	// version's end is not recorded; each report names its own.
	From  time.Time `json:"in_force_from,omitzero"`
	Files []string  `json:"files"` // bundle paths
}
