package main

import (
	"os"
	"testing"

	"eventops/storage/storetest"
)

// TestMain stops the throwaway PostgreSQL cluster the tests may have
// started (see storage/pgtest).
func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }
