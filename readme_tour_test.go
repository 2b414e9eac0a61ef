package main

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tourBlock is a README code block marked to be run by TestReadmeTour.
var tourBlock = regexp.MustCompile("(?s)```sh tour\n(.*?)```")

// TestReadmeTour runs the README's tour, the blocks marked `sh tour`, in
// order in one bash, as a newcomer pastes them, against a server started as
// the README says (its first start prints the API key the tour uses). Any
// failing command fails the test, naming its block.
func TestReadmeTour(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README tour needs %s: install Debian's %s package (.ci/run does)", tool, tool)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := tourBlock.FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 5 {
		t.Fatalf("the README has %d tour blocks", len(blocks))
	}
	bin := buildEventops(t)
	// The README's defaults but the address: rate limit on, as for a newcomer.
	p := startServe(t, bin, t.TempDir(), "--rate-limit", "300")
	// stdout is copied by its own goroutine: the credentials may arrive
	// just after the log line that says the server listens.
	keyLine := regexp.MustCompile(`API key\s+(eo_\S+)`)
	var key []string
	pollUntil(10*time.Second, 10*time.Millisecond, func() bool {
		key = keyLine.FindStringSubmatch(p.stdout.String())
		return key != nil
	})
	if key == nil {
		t.Fatalf("the first start printed no API key:\n%s", p.stdout.String())
	}

	var script strings.Builder
	script.WriteString("set -eE -o pipefail\n")
	script.WriteString(`trap 'echo "tour block $tour_block failed: $BASH_COMMAND" >&2' ERR` + "\n")
	for i, b := range blocks {
		n := strconv.Itoa(i + 1)
		script.WriteString("tour_block=" + n + "\necho '::: block " + n + "'\n" + b[1] + "\n")
	}
	script.WriteString("echo '::: tour done'\n")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = t.TempDir()
	cmd.Env = append(cleanEnv(), "API=http://"+p.addr+"/api/v2", "KEY="+key[1])
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "::: tour done") {
		t.Fatalf("the tour failed (%v):\n%s", err, out)
	}
	// What a newcomer would look for in the output.
	for _, want := range []string{`"links"`, "venue 1, ticket type 1", ": completed", "cancel: HTTP"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the tour's output lacks %q:\n%s", want, out)
		}
	}
	if testing.Verbose() {
		t.Logf("tour output:\n%s", out)
	}
}
