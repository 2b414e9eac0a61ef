package main

import (
	"regexp"
	"strings"
	"testing"
)

// Every command's help writes its flags as --flag (like its usage line and
// the README), gives an environment example that is one of its own flags,
// and its usage line does not present a flag with a default as required.
func TestHelpShowsDoubleDashFlagsOwnEnvExampleAndOptionalDefaults(t *testing.T) {
	exampleRe := regexp.MustCompile(`e\.g\. --([a-z-]+) from (EVENTOPS_[A-Z_]+)`)
	flagRe := regexp.MustCompile(`(?m)^  --([a-z-]+)`)
	defaultedRe := regexp.MustCompile(`(?m)^  --([a-z-]+)[^\n]*\n[^\n]*\(default `)
	for _, cmd := range [][]string{
		{"serve"}, {"company", "create"}, {"company", "connect"}, {"shopify-app", "set"}, {"apikey", "create"}, {"user", "create"}, {"import"}, {"sandbox"},
	} {
		name := strings.Join(cmd, " ")
		code, _, errOut := runCLI(t, "", append(cmd, "-h")...)
		if code != 0 {
			t.Fatalf("%s -h: exit %d", name, code)
		}
		if regexp.MustCompile(`(?m)^\s+-[a-z]`).MatchString(errOut) {
			t.Errorf("%s -h shows a flag with one dash:\n%s", name, errOut)
		}
		own := map[string]bool{}
		for _, m := range flagRe.FindAllStringSubmatch(errOut, -1) {
			own[m[1]] = true
		}
		if len(own) == 0 {
			t.Fatalf("%s -h lists no --flags:\n%s", name, errOut)
		}
		m := exampleRe.FindStringSubmatch(errOut)
		if m == nil || !own[m[1]] || m[2] != envName(m[1]) {
			t.Errorf("%s -h: environment example %q is not one of its flags %v", name, m, own)
		}
		usageLine, _, _ := strings.Cut(errOut, "\n")
		for _, d := range defaultedRe.FindAllStringSubmatch(errOut, -1) {
			if strings.Contains(usageLine, " --"+d[1]+" ") {
				t.Errorf("%s: usage line %q shows --%s, which has a default, as required", name, usageLine, d[1])
			}
		}
	}
}
