package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"eventops/engine/shopify/sandbox"
)

// `eventops sandbox` alone, started where `eventops serve` runs with its
// defaults, opens its own folder instead of serve's locked sandbox file.
func TestSandboxDefaultDataFolderIsNotServes(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("EVENTOPS_DATA", "")
	os.Unsetenv("EVENTOPS_DATA") // t.Setenv restores it
	// What serve with its defaults holds while it runs.
	if err := os.Mkdir("data", 0o700); err != nil {
		t.Fatal(err)
	}
	served, err := sandbox.New(sandbox.Options{Path: filepath.Join("data", sandboxFile)})
	if err != nil {
		t.Fatal(err)
	}
	defer served.Close()

	cfg, err := parseSandboxFlags([]string{"--addr", "127.0.0.1:0", "--log-level", "error", "--shutdown-timeout", "1s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	startSandboxRun(t, cfg) // fails the test unless it serves
	if _, err := os.Stat(filepath.Join("data-sandbox", sandboxFile)); err != nil {
		t.Fatalf("the sandbox's default file: %v", err)
	}
}

// A sandbox whose file is held says which file and folder, who may hold
// it (and, on Linux, which process does), and what to do.
func TestSandboxLockedSaysWhichFolderAndProcess(t *testing.T) {
	dir := t.TempDir()
	held, err := sandbox.New(sandbox.Options{Path: filepath.Join(dir, sandboxFile)})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cfg := sandboxConfig{addr: "127.0.0.1:0", data: dir, shutdown: time.Second, logLevel: "error"}
	err = runSandbox(context.Background(), cfg, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("a second sandbox opened a held file")
	}
	msg := err.Error()
	for _, want := range []string{filepath.Join(dir, sandboxFile), "folder " + dir, "eventops serve", "eventops sandbox", "another --data folder"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if runtime.GOOS == "linux" && !strings.Contains(msg, fmt.Sprintf("pid %d ", os.Getpid())) {
		t.Errorf("error %q does not name the holding process (pid %d)", msg, os.Getpid())
	}
}
