package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"eventops/storage"
)

// typedTerminal answers ReadPassword with what a user types, one entry a
// call, as term.ReadPassword does (without the newline).
type typedTerminal struct {
	entries []string
	reads   int
}

func (tt *typedTerminal) ReadPassword() ([]byte, error) {
	tt.reads++
	if len(tt.entries) == 0 {
		return nil, os.ErrClosed
	}
	e := tt.entries[0]
	tt.entries = tt.entries[1:]
	return []byte(e), nil
}

func userCreateOnTerminal(t *testing.T, tt *typedTerminal, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = userCreate(args, strings.NewReader(""), tt, &out, &errb)
	return out.String(), errb.String(), err
}

func TestUserCreateOnTerminalAsksTwiceStatingTheMinimum(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const pw = "correct horse battery"
	// Two different entries create nothing.
	tt := &typedTerminal{entries: []string{pw, pw + "!"}}
	out, errOut, err := userCreateOnTerminal(t, tt, "--data", dir, "--email", "ops@example.com")
	if err == nil || !strings.Contains(err.Error(), "differ") || out != "" {
		t.Fatalf("different entries: err %v, stdout %q", err, out)
	}
	// A short one is refused at once, saying the minimum.
	tt = &typedTerminal{entries: []string{"short"}}
	_, errOut, err = userCreateOnTerminal(t, tt, "--data", dir, "--email", "ops@example.com")
	if err == nil || !strings.Contains(err.Error(), "at least 12") || tt.reads != 1 {
		t.Fatalf("short password: err %v after %d reads", err, tt.reads)
	}
	// Asked twice, the first prompt stating the minimum; never shown.
	tt = &typedTerminal{entries: []string{pw, pw}}
	out, errOut, err = userCreateOnTerminal(t, tt, "--data", dir, "--email", "ops@example.com", "--role", "admin")
	if err != nil {
		t.Fatalf("user create on a terminal: %v (stderr %q)", err, errOut)
	}
	if tt.reads != 2 || !strings.Contains(errOut, "Password (at least 12 characters): ") || !strings.Contains(errOut, "Repeat the password: ") {
		t.Fatalf("%d reads, prompts %q; want two, the first stating the minimum", tt.reads, errOut)
	}
	if strings.Contains(out+errOut, pw) {
		t.Fatal("the password was printed")
	}
	if strings.TrimSpace(out) != "1" {
		t.Fatalf("stdout %q, want the id of the first user (nothing was created before)", out)
	}
}

// countingReader counts the reads of stdin.
type countingReader struct{ reads int }

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	copy(p, "correct horse battery\n")
	return len("correct horse battery\n"), nil
}

// A server holding the data file fails user create before the password is
// asked for or read.
func TestUserCreateChecksTheLockBeforeAsking(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, dbFile), storage.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	stdin := &countingReader{}
	var out, errb bytes.Buffer
	code := run([]string{"user", "create", "--data", dir, "--email", "ops@example.com"}, stdin, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "in use") || stdin.reads != 0 {
		t.Fatalf("exit %d, stderr %q, %d reads of stdin; want 1, the file in use, no read", code, errb.String(), stdin.reads)
	}
	if runtime.GOOS == "linux" && !strings.Contains(errb.String(), fmt.Sprintf("pid %d ", os.Getpid())) {
		t.Errorf("stderr %q does not name the process holding the file (pid %d)", errb.String(), os.Getpid())
	}
	tt := &typedTerminal{entries: []string{"correct horse battery", "correct horse battery"}}
	_, errOut, err := userCreateOnTerminal(t, tt, "--data", dir, "--email", "ops@example.com")
	if err == nil || tt.reads != 0 || strings.Contains(errOut, "Password") {
		t.Fatalf("on a terminal: err %v, %d reads, prompts %q; want the lock error before any prompt", err, tt.reads, errOut)
	}
	// A bad role is told before asking too.
	_, _, err = userCreateOnTerminal(t, tt, "--data", t.TempDir(), "--email", "ops@example.com", "--role", "boss")
	if err == nil || !strings.Contains(err.Error(), "--role") || tt.reads != 0 {
		t.Fatalf("bad role: err %v, %d reads", err, tt.reads)
	}
}

// Without a terminal (a pipe, a file), the password is stdin's first line.
func TestUserCreateWithoutTerminalReadsStdin(t *testing.T) {
	t.Parallel()
	if stdinTerminal(strings.NewReader("x")) != nil {
		t.Fatal("a reader taken for a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if stdinTerminal(r) != nil {
		t.Fatal("a pipe taken for a terminal")
	}
	go func() {
		w.WriteString("correct horse battery\n")
		w.Close()
	}()
	var out, errb bytes.Buffer
	code := run([]string{"user", "create", "--data", t.TempDir(), "--email", "ops@example.com"}, r, &out, &errb)
	if code != 0 || strings.TrimSpace(out.String()) != "1" || strings.Contains(errb.String(), "Password") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	code, _, errOut := runCLI(t, "", "user", "create", "--data", t.TempDir(), "--email", "ops@example.com")
	if code != 1 || !strings.Contains(errOut, "stdin") {
		t.Fatalf("empty stdin: exit %d, %q", code, errOut)
	}
}
