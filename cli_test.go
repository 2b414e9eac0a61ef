package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"eventops/storage"
)

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLICreatesCompanyKeyAndUser(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	code, out, errOut := runCLI(t, "", "company", "create", "--data", dir, "--name", "Blue Room Events")
	if code != 0 {
		t.Fatalf("company create: exit %d, stderr %q", code, errOut)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(out), 10, 64)
	if err != nil || id == 0 {
		t.Fatalf("company create printed %q, want only an id", out)
	}

	code, out, errOut = runCLI(t, "", "apikey", "create", "--data", dir, "--company", strconv.FormatUint(id, 10), "--scopes", "read")
	if code != 0 {
		t.Fatalf("apikey create: exit %d, stderr %q", code, errOut)
	}
	key := strings.TrimSpace(out)
	if !strings.HasPrefix(key, "eo_") || strings.ContainsAny(key, " \n") {
		t.Fatalf("apikey create printed %q, want only the key", out)
	}

	code, out, errOut = runCLI(t, "correct horse battery staple\n", "user", "create", "--data", dir, "--email", "Ops@Example.com", "--role", "admin")
	if code != 0 {
		t.Fatalf("user create: exit %d, stderr %q", code, errOut)
	}
	if strings.Contains(out+errOut, "correct horse") {
		t.Fatal("the password was printed back")
	}

	// The data file holds only the key's hash and the password's hash.
	raw, err := os.ReadFile(filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(key)) || bytes.Contains(raw, []byte("correct horse")) {
		t.Fatal("a secret is stored in clear in the data file")
	}
}

func TestCLIRefusesBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"blank company name", "", []string{"company", "create", "--data", dir, "--name", " "}, "name can't be blank"},
		{"unknown scope", "", []string{"apikey", "create", "--data", dir, "--company", "1", "--scopes", "admin"}, "scopes"},
		{"missing company", "", []string{"apikey", "create", "--data", dir, "--company", "999", "--scopes", "read"}, "not found"},
		{"no password", "", []string{"user", "create", "--data", dir, "--email", "a@example.com"}, "password on stdin"},
		{"short password", "short\n", []string{"user", "create", "--data", dir, "--email", "a@example.com"}, "at least 12"},
		{"bad role", "long enough password\n", []string{"user", "create", "--data", dir, "--email", "a@example.com", "--role", "root"}, "role"},
		{"real shop without token", "", []string{"company", "create", "--data", dir, "--name", "X", "--shopify-shop", "x.myshopify.com"}, "access token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, c.stdin, c.args...)
			if code == 0 || out != "" {
				t.Fatalf("exit %d, stdout %q: want a failure and nothing printed", code, out)
			}
			if !strings.Contains(errOut, c.want) {
				t.Fatalf("stderr %q does not mention %q", errOut, c.want)
			}
		})
	}
}

func TestCLIFailsFastWhileServerHoldsTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, dbFile), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	start := time.Now()
	code, _, errOut := runCLI(t, "", "company", "create", "--data", dir, "--name", "Late")
	if code == 0 {
		t.Fatal("company create succeeded while another process held the data file")
	}
	if !strings.Contains(errOut, "in use") {
		t.Fatalf("stderr %q does not say the file is in use", errOut)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("took %s to give up", waited)
	}
}

func TestEnvironmentFillsFlags(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("EVENTOPS_DATA", dir)
	t.Setenv("EVENTOPS_NAME", "From Env")
	code, out, errOut := runCLI(t, "", "company", "create")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.TrimSpace(out) == "" {
		t.Fatal("no id printed")
	}
}

// serve refuses flag values that mean nothing, with a message naming the
// flag and exit status 2, before it opens or creates anything.
func TestServeRefusesMeaninglessFlagValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--rate-limit", "-5"}, "--rate-limit"},
		{[]string{"--workers", "0"}, "--workers"},
		{[]string{"--workers", "-1"}, "--workers"},
		{[]string{"--retention", "-1h"}, "--retention"},
		{[]string{"--shutdown-timeout", "0s"}, "--shutdown-timeout"},
		{[]string{"--sandbox-restore-rate", "-1"}, "--sandbox-restore-rate"},
		{[]string{"--sandbox-restore-rate", "NaN"}, "--sandbox-restore-rate"},
		{[]string{"--public-url", "ops.example.com"}, "--public-url"},
		{[]string{"--addr", ""}, "--addr"},
		{[]string{"--shop-reconcile-interval", "-5m"}, "--shop-reconcile-interval"},
		{[]string{"--shop-reconcile-interval", "10ms"}, "--shop-reconcile-interval"},
		// --sandbox-url is PostgreSQL's; there the built-in sandbox's
		// flags mean nothing (the database is never reached).
		{[]string{"--sandbox-url", "http://127.0.0.1:8081"}, "--sandbox-url"},
		{[]string{"--database-url", "postgres://eventops@127.0.0.1:1/x", "--sandbox-url", "ftp://127.0.0.1:8081"}, "--sandbox-url"},
		{[]string{"--database-url", "postgres://eventops@127.0.0.1:1/x", "--sandbox-control"}, "--sandbox-control"},
		{[]string{"--database-url", "postgres://eventops@127.0.0.1:1/x", "--sandbox-restore-rate", "0"}, "--sandbox-restore-rate"},
		{[]string{"--database-url", "postgres://eventops@127.0.0.1:1/x", "--sandbox-token-ttl", "1m"}, "--sandbox-token-ttl"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			code, out, errOut := runCLI(t, "", append([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0"}, c.args...)...)
			if code != 2 || out != "" {
				t.Fatalf("exit %d, stdout %q: want 2 and nothing printed\n%s", code, out, errOut)
			}
			if !strings.Contains(errOut, c.want) {
				t.Fatalf("stderr %q does not name %s", errOut, c.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("the data folder was created (%v): serve went on", err)
			}
		})
	}
}
