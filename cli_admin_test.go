package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
)

// An operator's cron job takes a backup of a running server with an admin
// token, without a browser session: the file it writes is a whole data
// file (the old example downloaded a 0-byte sign-in redirect). A wrong
// token writes nothing and says why; the token opens no company's API.
func TestBackupByAdminTokenFromAScript(t *testing.T) {
	t.Parallel()
	bin := buildEventops(t)
	data := t.TempDir()
	cli := func(env []string, stdin string, stdout *os.File, args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(cleanEnv(), env...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if stdout != nil {
			cmd.Stdout = stdout
		}
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
	code, token, errOut := cli(nil, "", nil, "admintoken", "create", "--data", data, "--name", "nightly backup")
	token = strings.TrimSpace(token)
	if code != 0 || !strings.HasPrefix(token, "eoadm_") {
		t.Fatalf("admintoken create: %d %q %q", code, token, errOut)
	}
	key := localCompanyKey(t, bin, data)
	p := startServe(t, bin, data)
	url := "http://" + p.addr

	// The token from the environment, then from stdin.
	for i, way := range []struct {
		env   []string
		stdin string
	}{{[]string{"EVENTOPS_ADMIN_TOKEN=" + token}, ""}, {nil, token + "\n"}} {
		file := filepath.Join(t.TempDir(), "backup.db")
		f, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		code, _, errOut := cli(way.env, way.stdin, f, "backup", "--url", url)
		f.Close()
		if code != 0 || !strings.Contains(errOut, "bytes (eventops-") {
			t.Fatalf("backup %d: exit %d, stderr %q", i, code, errOut)
		}
		db, err := storage.Open(file, storage.Options{Timeout: time.Second})
		if err != nil {
			t.Fatalf("backup %d is not a data file: %v", i, err)
		}
		var companies []*engine.Company
		err = db.View(func(tx engine.Tx) error { companies, err = tx.Companies(); return err })
		db.Close()
		if err != nil || len(companies) != 1 || companies[0].Name != "Local" {
			t.Fatalf("backup %d holds %v, %v", i, companies, err)
		}
	}

	// A wrong token: exit 1, the server's reason, nothing written.
	file := filepath.Join(t.TempDir(), "backup.db")
	f, _ := os.Create(file)
	code, _, errOut = cli([]string{"EVENTOPS_ADMIN_TOKEN=eoadm_wrong"}, "", f, "backup", "--url", url)
	f.Close()
	if st, _ := os.Stat(file); code != 1 || !strings.Contains(errOut, "401") || st.Size() != 0 {
		t.Fatalf("wrong token: exit %d, stderr %q, %d bytes written", code, errOut, st.Size())
	}
	// A company's API key is not an admin token, and the reverse.
	code, _, errOut = cli([]string{"EVENTOPS_ADMIN_TOKEN=" + key}, "", nil, "backup", "--url", url)
	if code != 1 || !strings.Contains(errOut, "401") {
		t.Fatalf("API key as admin token: exit %d, %q", code, errOut)
	}
	req, _ := http.NewRequestWithContext(context.Background(), "GET", url+"/api/v2", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("admin token on the API: %d", resp.StatusCode)
	}
	// No token at all: said, before any request.
	if code, _, errOut = cli(nil, "", nil, "backup", "--url", url); code != 1 || !strings.Contains(errOut, "EVENTOPS_ADMIN_TOKEN") {
		t.Fatalf("no token: exit %d, %q", code, errOut)
	}
}

// Admin tokens are listed and revoked by the CLI, and are not company keys.
func TestAdminTokenListAndRevoke(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, token, _ := runCLI(t, "", "admintoken", "create", "--data", dir, "--name", "cron")
	if code != 0 {
		t.Fatal("create")
	}
	code, out, _ := runCLI(t, "", "admintoken", "list", "--data", dir)
	if code != 0 || !strings.Contains(out, `"cron"`) || !strings.Contains(out, "live") || strings.Contains(out, strings.TrimSpace(token)) {
		t.Fatalf("list: %d %q", code, out)
	}
	id := strings.Fields(out)[0]
	if code, out, _ = runCLI(t, "", "admintoken", "revoke", "--data", dir, "--id", id); code != 0 {
		t.Fatalf("revoke: %d %q", code, out)
	}
	if _, out, _ = runCLI(t, "", "admintoken", "list", "--data", dir); !strings.Contains(out, "revoked") {
		t.Fatalf("after revoke: %q", out)
	}
	db, eng, err := openData(&storeFlags{data: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := eng.AuthenticateAdminToken(strings.TrimSpace(token)); engine.ErrorKind(err) != engine.KindUnauthorized {
		t.Fatalf("revoked token: %v", err)
	}
	if ks, err := eng.APIKeys(0); err != nil || len(ks) != 0 {
		t.Fatalf("admin token listed as a company key: %v %v", ks, err)
	}
}

// A lost password is replaced by `user password`, which signs out the
// sessions opened with the old one; an unknown email is said before the
// password is asked.
func TestUserPasswordResetsALostPassword(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if code, _, errOut := runCLI(t, "old password 123\n", "user", "create", "--data", dir, "--email", "ops@example.com", "--role", "admin"); code != 0 {
		t.Fatal(errOut)
	}
	tt := &typedTerminal{}
	var out, errb bytes.Buffer
	if err := userPassword([]string{"--data", dir, "--email", "nobody@example.com"}, strings.NewReader(""), tt, &out, &errb); err == nil || tt.reads != 0 {
		t.Fatalf("unknown email: %v after %d reads", err, tt.reads)
	}
	// A session signed in with the old password.
	db, eng, err := openData(&storeFlags{data: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := eng.UserByEmail("ops@example.com")
	hash := []byte("0123456789abcdef0123456789abcdef")
	now := time.Now()
	if err := eng.PutSession(context.Background(), &engine.StaffSession{Hash: hash, UserID: u.ID, Created: now, Seen: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, out2, errOut := runCLI(t, "new password 456\n", "user", "password", "--data", dir, "--email", "OPS@example.com")
	if code != 0 || !strings.Contains(out2, "ops@example.com") {
		t.Fatalf("user password: %d %q %q", code, out2, errOut)
	}
	db, eng, err = openData(&storeFlags{data: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if s, _, err := eng.Session(hash); s != nil || err != nil {
		t.Fatalf("the old password's session survives: %v %v", s, err)
	}
	if _, err := eng.SignIn("ops@example.com", "new password 456"); err != nil {
		t.Fatalf("new password refused: %v", err)
	}
	if _, err := eng.SignIn("ops@example.com", "old password 123"); err == nil {
		t.Fatal("old password still accepted")
	}
}
