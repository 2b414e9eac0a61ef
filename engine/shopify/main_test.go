package shopify_test

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"eventops/storage/storetest"
)

// TestMain runs the package's tests, then, on a full run that passed,
// fails if a GraphQL document of the client was never sent to the sandbox
// by any test: every document must be checked against Shopify's schema
// with the variables the client really sends (see checkSentCalls). A run
// narrowed with -run or -skip exercises only part of the client and is not
// judged.
func TestMain(m *testing.M) {
	code := storetest.Main(m)
	if code == 0 && flagValue("test.run") == "" && flagValue("test.skip") == "" {
		if unsent := unsentDocuments(); len(unsent) > 0 {
			sort.Strings(unsent)
			fmt.Fprintf(os.Stderr, "FAIL: no test sent %s to the sandbox: its variables were never checked against Shopify's schema\n",
				strings.Join(unsent, ", "))
			code = 1
		}
	}
	os.Exit(code)
}

func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}
