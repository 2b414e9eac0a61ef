package web

import (
	"os"
	"strings"
	"testing"

	"eventops/engine"
)

// TestAPIDocErrorCodes keeps the error-code table of the API document
// (static/docs/api.md) equal to
// engine.PhaseCodes; EVENTOPS_UPDATE_DOCS=1 rewrites it.
func TestAPIDocErrorCodes(t *testing.T) {
	t.Parallel()
	const file, begin, end = "../static/docs/api.md", "<!-- codes:begin -->\n", "<!-- codes:end -->"
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the %q … %q markers", file, begin, end)
	}
	var b strings.Builder
	b.WriteString("| code | meaning |\n|---|---|\n")
	for _, c := range engine.PhaseCodes {
		b.WriteString("| `" + string(c.Code) + "` | " + strings.ReplaceAll(c.Meaning, "|", `\|`) + " |\n")
	}
	if doc[i+len(begin):j] == b.String() {
		return
	}
	if os.Getenv("EVENTOPS_UPDATE_DOCS") != "" {
		if err := os.WriteFile(file, []byte(doc[:i+len(begin)]+b.String()+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("the error-code table of %s is stale: run EVENTOPS_UPDATE_DOCS=1 go test ./web -run TestAPIDocErrorCodes", file)
}
