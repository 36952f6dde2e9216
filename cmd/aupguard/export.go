package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aupguard/aupguard/internal/deskclient"
	"github.com/aupguard/aupguard/internal/evidence"
)

func init() {
	register("export", "write a signed evidence bundle from a running gateway: --out FILE [--since T] [--until T] [--user U] [--category C]", runExport)
}

func runExport(args []string) int { return exportMain(args, os.Stdout, os.Stderr, time.Now()) }

// exportMain fetches a bundle from the admin API (GET /admin/v1/export), so
// it never competes with the gateway for the embedded store's file lock,
// checks it, and only then moves it into place.
func exportMain(args []string, stdout, stderr io.Writer, now time.Time) int {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: aupguard export --out FILE [--since T] [--until T] [--user U] [--app A] [--category C]
       aupguard export --print-pubkey [--key-file FILE]

Times are RFC 3339 (2026-11-01T09:00:00Z), a date (2026-11-01, midnight UTC)
or a duration back from now (24h, 7d). --since is inclusive, --until exclusive.

`)
		fs.PrintDefaults()
	}
	out := fs.String("out", "", "bundle file to write (.tar.gz)")
	force := fs.Bool("force", false, "overwrite --out if it exists")
	since := fs.String("since", "", "first moment included")
	until := fs.String("until", "", "first moment excluded (default: now)")
	user := fs.String("user", "", "only this end user (as the app sent the id)")
	app := fs.String("app", "", "only this app")
	category := fs.String("category", "", "only reports of this category (and actions on their users)")
	adminURL := fs.String("admin-url", exportEnvOr("AUPGUARD_ADMIN_URL", "http://127.0.0.1:8081"), "admin listener URL (env AUPGUARD_ADMIN_URL)")
	token := fs.String("token", "", "admin bearer token, role auditor or admin (default: $AUPGUARD_TOKEN, which is better: a flag shows in the process list)")
	pubFile := fs.String("pubkey", "", "check the downloaded bundle against the operator's public key too")
	timeout := fs.Duration("timeout", time.Hour, "give up after this long")
	printPub := fs.Bool("print-pubkey", false, "print the public key of the local signing key file as PEM, for verifiers, and exit")
	keyFile := fs.String("key-file", evidence.DefaultKeyFile, "signing key file read by --print-pubkey (config secrets.signing_key_file)")
	rest, err := evidenceParseArgs(fs, args)
	if err != nil {
		return evidenceUsageExit(err)
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "export: unexpected argument %q\n", rest[0])
		return 2
	}

	if *printPub {
		data, err := os.ReadFile(*keyFile)
		if err != nil {
			fmt.Fprintf(stderr, "export: %v\n", err)
			return 1
		}
		key, err := evidence.ParsePrivateKey(data)
		if err != nil {
			fmt.Fprintf(stderr, "export: %s: %v\n", *keyFile, err)
			return 1
		}
		pemBytes, err := evidence.MarshalPublicKeyPEM(key.Public().(ed25519.PublicKey))
		if err != nil {
			fmt.Fprintf(stderr, "export: %v\n", err)
			return 1
		}
		stdout.Write(pemBytes)
		fmt.Fprintf(stderr, "fingerprint %s\n", evidence.Fingerprint(key.Public().(ed25519.PublicKey)))
		return 0
	}

	if *out == "" {
		fmt.Fprintln(stderr, "export: --out FILE is required")
		fs.Usage()
		return 2
	}
	var pub ed25519.PublicKey
	if *pubFile != "" {
		data, err := os.ReadFile(*pubFile)
		if err == nil {
			pub, err = evidence.ParsePublicKey(data)
		}
		if err != nil {
			fmt.Fprintf(stderr, "export: --pubkey: %v\n", err)
			return 2
		}
	}
	if *token == "" {
		*token = os.Getenv("AUPGUARD_TOKEN") // not the flag's default: --help would print it
	}
	if *token == "" {
		fmt.Fprintln(stderr, "export: no admin token: pass --token or set AUPGUARD_TOKEN")
		return 2
	}
	if !*force {
		if _, err := os.Stat(*out); err == nil {
			fmt.Fprintf(stderr, "export: %s exists (pass --force to overwrite)\n", *out)
			return 2
		}
	}
	var f evidence.Filter
	if f.Since, err = evidence.ParseTime(*since, now); err != nil {
		fmt.Fprintf(stderr, "export: --since: %v\n", err)
		return 2
	}
	if f.Until, err = evidence.ParseTime(*until, now); err != nil {
		fmt.Fprintf(stderr, "export: --until: %v\n", err)
		return 2
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		fmt.Fprintln(stderr, "export: --since must be before --until")
		return 2
	}
	f.User, f.App, f.Category = *user, *app, *category

	c, err := deskclient.New(*adminURL, *token, *timeout)
	if err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return 2
	}
	body, err := c.Export(context.Background(), f.Query())
	if err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return 1
	}
	defer body.Close()
	if err := saveVerified(body, *out, pub, stdout); err != nil {
		fmt.Fprintf(stderr, "export: %v\n", err)
		return 1
	}
	return 0
}

// saveVerified downloads a bundle next to out and renames it into place
// only once it verifies, so a cut connection or a bad bundle never leaves
// a bundle-looking file behind; it prints what it wrote.
func saveVerified(body io.Reader, out string, pub ed25519.PublicKey, stdout io.Writer) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".aupguard-export-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	rf, err := os.Open(tmp.Name())
	if err != nil {
		return err
	}
	res := evidence.Verify(rf, pub)
	rf.Close()
	if !res.OK {
		return fmt.Errorf("the gateway sent a bundle that does not verify: %s", res.FirstFailure)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes, sha256 %s)\n%s\n", out, n, hex.EncodeToString(h.Sum(nil)), res.Summary)
	return nil
}

func exportEnvOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// evidenceUsageExit is the exit code after a flag error: 0 for -h.
func evidenceUsageExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// evidenceParseArgs parses flags wherever they stand among the positional
// arguments ("verify FILE --pubkey K" as well as "verify --pubkey K FILE").
func evidenceParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
