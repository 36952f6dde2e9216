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
	register("verify", "check an evidence bundle offline: FILE [--pubkey FILE]", runVerify)
}

func runVerify(args []string) int { return verifyMain(args, os.Stdin, os.Stdout, os.Stderr) }

// verifyMain exits 0 when the bundle is intact, 1 when it is not (naming
// the first failure) and 2 on usage or I/O errors.
func verifyMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: aupguard verify FILE [--pubkey FILE] [--json]

Checks an evidence bundle offline (FILE "-" reads stdin). Without --pubkey
the signature is checked against the key embedded in the bundle, which shows
the bundle is intact but not who made it; give the operator's public key
(aupguard export --print-pubkey) to check origin too.

`)
		fs.PrintDefaults()
	}
	pubFile := fs.String("pubkey", "", "the operator's public key: PEM, raw 32 bytes, hex or base64")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	rest, err := evidenceParseArgs(fs, args)
	if err != nil {
		return evidenceUsageExit(err)
	}
	if len(rest) != 1 {
		fs.Usage()
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
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			OK             bool               `json:"ok"`
			FirstFailure   string             `json:"first_failure,omitempty"`
			Summary        string             `json:"summary"`
			KeyFingerprint string             `json:"key_fingerprint,omitempty"`
			OriginVerified bool               `json:"origin_verified"`
			Manifest       *evidence.Manifest `json:"manifest,omitempty"`
		}{res.OK, res.FirstFailure, res.Summary, res.KeyFingerprint, res.OriginVerified, res.Manifest})
	} else if res.OK {
		fmt.Fprintln(stdout, res.Summary)
	} else {
		fmt.Fprintf(stderr, "verify: %s: NOT intact: %s\n", rest[0], res.FirstFailure)
	}
	if !res.OK {
		return 1
	}
	return 0
}
