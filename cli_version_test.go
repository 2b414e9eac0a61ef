package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionPrintsVersionCommitAndGo(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, errOut := runCLI(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		// The commit is not required: tests may build with -buildvcs=false.
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "eventops ") || !strings.HasPrefix(lines[1], "commit ") ||
			lines[2] != "go "+runtime.Version() {
			t.Fatalf("%v printed %q, want eventops VERSION / commit REV / go %s", args, out, runtime.Version())
		}
	}
	if code, _, _ := runCLI(t, "", "version", "extra"); code != 2 {
		t.Fatalf("version extra: exit %d, want 2", code)
	}
}

func TestVersionTextFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Path: "eventops", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionText(bi, true), "eventops v1.4.0\ncommit 0123abcd+modified\ngo go1.99.1\n"; got != want {
		t.Fatalf("versionText = %q, want %q", got, want)
	}
	bi.Settings = nil // built with -buildvcs=false
	if got := versionText(bi, true); !strings.Contains(got, "\ncommit unknown\n") {
		t.Fatalf("without a revision: %q, want commit unknown", got)
	}
	if got := versionText(nil, false); got != "eventops unknown\ncommit unknown\ngo unknown\n" {
		t.Fatalf("without build info: %q", got)
	}
}

func TestUnknownCommandAndHelpForOneSaySoAndExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frob"}, `unknown command "frob"`},
		{[]string{"company", "frob"}, `unknown command "company frob"`},
		{[]string{"help", "frob"}, `unknown command "frob"`},
	} {
		code, out, errOut := runCLI(t, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %s on stderr", tc.args, code, out, errOut, tc.want)
		}
	}
	// help for a known command is its -h, on stdout.
	for _, args := range [][]string{{"help", "serve"}, {"help", "user", "create"}, {"help", "company"}} {
		code, out, _ := runCLI(t, "", args...)
		want := "usage: eventops " + strings.Join(args[1:], " ")
		if args[1] == "company" {
			want = "usage: eventops company create"
		}
		if code != 0 || !strings.HasPrefix(out, want) || !strings.Contains(out, "--data") {
			t.Errorf("%v: exit %d, stdout %q", args, code, out)
		}
	}
}
