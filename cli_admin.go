package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"
)

// cmdAdminTokenCreate creates an installation admin token (engine
// CreateAdminToken) and prints it once: scripts use it for the operator
// routes, such as `eventops backup --url`. Like the other scripting
// commands it runs against a stopped server's data folder.
func cmdAdminTokenCreate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("admintoken create", "admintoken create [--name N]  (prints the token, once)")
	fs.SetOutput(stderr)
	st := addStoreFlags(fs)
	name := fs.String("name", "", "a name to recognise the token by")
	if err := parse(fs, args); err != nil {
		return err
	}
	db, eng, err := openData(st, newLogger(stderr, slog.LevelWarn))
	if err != nil {
		return err
	}
	defer db.Close()
	_, token, err := eng.CreateAdminToken(context.Background(), *name)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(stdout, token.Reveal())
	return nil
}

// cmdAdminTokenRevoke revokes an admin token by its id (listed by
// `admintoken list`) with the server stopped; while it runs the
// dashboard's API keys page does it (web/dash/admin_tokens.go).
func cmdAdminTokenRevoke(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("admintoken revoke", "admintoken revoke --id ID  (server stopped; while it runs, revoke on the dashboard's API keys page)")
	fs.SetOutput(stderr)
	st := addStoreFlags(fs)
	id := fs.Uint64("id", 0, "the token's id (required; see admintoken list)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == 0 {
		return fmt.Errorf("--id is required")
	}
	db, eng, err := openData(st, newLogger(stderr, slog.LevelWarn))
	if err != nil {
		return err
	}
	defer db.Close()
	k, err := eng.RevokeAdminToken(context.Background(), *id)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked admin token %d (%s…)\n", k.ID, k.Prefix)
	return nil
}

// cmdAdminTokenList prints the admin tokens: id, prefix, name, created,
// last used, revoked. Never the token, which is not stored.
func cmdAdminTokenList(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("admintoken list", "admintoken list")
	fs.SetOutput(stderr)
	st := addStoreFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	db, eng, err := openData(st, newLogger(stderr, slog.LevelWarn))
	if err != nil {
		return err
	}
	defer db.Close()
	ks, err := eng.AdminTokens()
	if err != nil {
		return err
	}
	for _, k := range ks {
		state := "live"
		if k.RevokedAt != nil {
			state = "revoked " + k.RevokedAt.UTC().Format(time.RFC3339)
		}
		used := "never used"
		if k.LastUsed != nil {
			used = "last used " + k.LastUsed.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "%d\t%s…\t%q\tcreated %s\t%s\t%s\n", k.ID, k.Prefix, k.Name, k.CreatedAt.UTC().Format(time.RFC3339), used, state)
	}
	return nil
}

// backupHelp follows the flags of `backup -h`.
const backupHelp = `
The admin token comes from EVENTOPS_ADMIN_TOKEN, else from the first line of
stdin (created by 'eventops admintoken create'; never a flag value). The
snapshot is written to stdout, which must not be a terminal:

  EVENTOPS_ADMIN_TOKEN=eoadm_... eventops backup --url https://ops.example.com > eventops.db
`

// cmdBackup downloads a consistent snapshot of a running server's data file
// (GET /backup, see web/ops) to stdout, authenticated by an installation
// admin token, so that a cron job needs no browser session. It fails, with
// the server's reason and nothing misleading left on stdout's file, on any
// answer but a whole snapshot.
func cmdBackup(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("backup", "backup --url URL > FILE")
	fs.SetOutput(stderr)
	defaultUsage := fs.Usage
	fs.Usage = func() { defaultUsage(); fmt.Fprint(fs.Output(), backupHelp) }
	base := fs.String("url", "http://127.0.0.1:8080", "the eventops server's base URL")
	timeout := fs.Duration("timeout", 30*time.Minute, "how long the whole download may take")
	if err := parse(fs, args); err != nil {
		return err
	}
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return fmt.Errorf("backup writes the data file to stdout: redirect it to a file (eventops backup --url URL > eventops.db)")
	}
	token, err := adminToken(stdin)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*base, "/")+"/backup", nil)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a redirect is a sign-in page, never a backup
	}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/octet-stream" {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("backup: the server answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	n, err := io.Copy(stdout, resp.Body)
	if err != nil {
		return fmt.Errorf("backup: cut off after %d bytes: %w", n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("backup: cut off after %d of %d bytes", n, resp.ContentLength)
	}
	if f, ok := stdout.(*os.File); ok {
		// A pipe or a character device cannot be synced (EINVAL): nothing to do.
		if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("backup: %w", err)
		}
	}
	name := strings.TrimSuffix(strings.TrimPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="`), `"`)
	fmt.Fprintf(stderr, "backup: %d bytes (%s)\n", n, name)
	return nil
}

// adminToken reads the admin token from EVENTOPS_ADMIN_TOKEN or the first
// line of stdin.
func adminToken(stdin io.Reader) (string, error) {
	if t := strings.TrimSpace(os.Getenv("EVENTOPS_ADMIN_TOKEN")); t != "" {
		return t, nil
	}
	if stdinTerminal(stdin) != nil {
		return "", fmt.Errorf("no admin token: set EVENTOPS_ADMIN_TOKEN or pipe the token on stdin (eventops admintoken create makes one)")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if t := strings.TrimSpace(line); t != "" {
		return t, nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return "", fmt.Errorf("no admin token: set EVENTOPS_ADMIN_TOKEN or pipe the token on stdin (eventops admintoken create makes one)")
}
