package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// --max-pending (and EVENTOPS_MAX_PENDING) refuses what is not a number of
// operations before anything is opened; 0 means no bound.
func TestServeRefusesNegativeMaxPending(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"flag", []string{"--max-pending", "-1"}, "", `invalid value "-1" for --max-pending (EVENTOPS_MAX_PENDING)`},
		{"environment", nil, "-5", `invalid value "-5" for --max-pending (EVENTOPS_MAX_PENDING)`},
		{"not a number", []string{"--max-pending", "lots"}, "", "invalid value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("EVENTOPS_MAX_PENDING", tc.env)
			}
			data := t.TempDir()
			var stderr bytes.Buffer
			err := cmdServe(append([]string{"--data", data, "--addr", "127.0.0.1:0"}, tc.args...), &bytes.Buffer{}, &stderr)
			if err == nil {
				t.Fatal("serve started")
			}
			if tc.name != "not a number" && err != errUsage {
				t.Errorf("error %v, want the usage exit (status 2)", err)
			}
			if msg := err.Error() + stderr.String(); !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, stderr %q; want %q", err, stderr.String(), tc.want)
			}
			if entries, _ := os.ReadDir(data); len(entries) > 0 {
				t.Errorf("the data folder was written: %v", entries)
			}
		})
	}
}
