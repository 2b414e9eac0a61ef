package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// cmdVersion prints what the binary was built from, one "key value" per
// line, from the build info Go embeds:
//
//	eventops VERSION   the main module's version ("(devel)" for a work-tree build)
//	commit REVISION    the VCS revision, "+modified" when the tree had changes;
//	                   "unknown" when built without VCS stamping (-buildvcs=false)
//	go GOVERSION       the toolchain that built it
func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "version")
	fs.SetOutput(stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	fmt.Fprint(stdout, versionText(bi, ok))
	return nil
}

// versionText renders build info; ok false (a binary without it) prints
// "unknown" for every field.
func versionText(bi *debug.BuildInfo, ok bool) string {
	version, commit, goVersion := "unknown", "unknown", "unknown"
	if ok && bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if s.Value != "" {
					commit = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && commit != "unknown" {
			commit += "+modified"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "eventops %s\ncommit %s\ngo %s\n", version, commit, goVersion)
	return b.String()
}
