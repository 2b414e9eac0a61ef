package dash

import (
	"os"
	"testing"

	"eventops/storage/storetest"
)

// TestMain stops the throwaway PostgreSQL cluster the tests may have
// started (EVENTOPS_TEST_STORE=postgres, see storetest).
func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }
