package main

import (
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aupguard/aupguard/internal/evidence"
)

func init() {
	register("verify", "check an evidence bundle offline: FILE --pubkey FILE | --insecure-no-key", runVerify)
}

func runVerify(args []string) int { return verifyMain(args, os.Stdin, os.Stdout, os.Stderr) }

// verifyMain exits 0 when the bundle is intact and authenticated, 1 when it
// is not intact (naming the first failure) or not authenticated, and 2 on
// usage or I/O errors. Anyone can sign a self-consistent bundle with a key of
// their own, so exit 0 needs the operator's pinned key, or the caller saying
// with --insecure-no-key that integrity alone is enough.
func verifyMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: aupguard verify FILE (--pubkey FILE | --insecure-no-key) [--json]

Checks an evidence bundle offline (FILE "-" reads stdin) against the
operator's public key (aupguard export --print-pubkey). Without --pubkey the
signature can only be checked against the key embedded in the bundle, which
shows the bundle is intact but not who made it: verify then exits 1 unless
--insecure-no-key says that is enough.

`)
		fs.PrintDefaults()
	}
	pubFile := fs.String("pubkey", "", "the operator's public key: PEM, raw 32 bytes, hex or base64")
	noKey := fs.Bool("insecure-no-key", false, "accept a bundle checked only against the key inside it (integrity, not origin)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	rest, err := evidenceParseArgs(fs, args)
	if err != nil {
		return evidenceUsageExit(err)
	}
	if len(rest) != 1 {
		fs.Usage()
		return 2
	}
	if *pubFile != "" && *noKey {
		fmt.Fprintln(stderr, "verify: --pubkey and --insecure-no-key exclude each other")
		return 2
	}
	var pub ed25519.PublicKey
	if *pubFile != "" {
		data, err := os.ReadFile(*pubFile)
		if err != nil {
			fmt.Fprintf(stderr, "verify: %v\n", err)
			return 2
		}
		if pub, err = evidence.ParsePublicKey(data); err != nil {
			fmt.Fprintf(stderr, "verify: %s: %v\n", *pubFile, err)
			return 2
		}
	}
	in := stdin
	if rest[0] != "-" {
		f, err := os.Open(rest[0])
		if err != nil {
			fmt.Fprintf(stderr, "verify: %v\n", err)
			return 2
		}
		defer f.Close()
		in = f
	}
	res := evidence.Verify(in, pub)
	authenticated := res.OK && res.OriginVerified
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			OK             bool               `json:"ok"`
			FirstFailure   string             `json:"first_failure,omitempty"`
			Summary        string             `json:"summary"`
			KeyFingerprint string             `json:"key_fingerprint,omitempty"`
			OriginVerified bool               `json:"origin_verified"`
			Authenticated  bool               `json:"authenticated"`
			Manifest       *evidence.Manifest `json:"manifest,omitempty"`
		}{res.OK, res.FirstFailure, res.Summary, res.KeyFingerprint, res.OriginVerified, authenticated, res.Manifest})
	} else if res.OK {
		fmt.Fprintln(stdout, res.Summary)
	} else {
		fmt.Fprintf(stderr, "verify: %s: NOT intact: %s\n", rest[0], res.FirstFailure)
	}
	switch {
	case !res.OK:
		return 1
	case authenticated:
		return 0
	case *noKey:
		fmt.Fprintf(stderr, "verify: --insecure-no-key: origin NOT checked: the signature was checked only against the key inside the bundle (%s), so the bundle is intact as its maker wrote it, but anyone could have made it\n", res.KeyFingerprint)
		return 0
	default:
		fmt.Fprintf(stderr, "verify: %s: intact but NOT authenticated: signed by %s, and no --pubkey was given to check that against the operator's key (--insecure-no-key accepts integrity alone)\n", rest[0], res.KeyFingerprint)
		return 1
	}
}
