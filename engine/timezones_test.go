package engine_test

import (
	"testing"

	"eventops/engine"
)

// Known zones load (once: the same *Location comes back); anything else,
// the server's "Local" included, is UTC.
func TestLoadLocation(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, want string }{
		{"America/Chicago", "America/Chicago"},
		{"Europe/London", "Europe/London"},
		{"UTC", "UTC"},
		{"", "UTC"},
		{"Local", "UTC"},
		{"Nowhere/Atlantis", "UTC"},
		{"../../etc/passwd", "UTC"},
	}
	for _, tc := range tests {
		got := engine.LoadLocation(tc.name)
		if got.String() != tc.want {
			t.Errorf("LoadLocation(%q) = %s, want %s", tc.name, got, tc.want)
		}
		if again := engine.LoadLocation(tc.name); again != got {
			t.Errorf("LoadLocation(%q) loaded twice", tc.name)
		}
	}
}

// A venue's zone is one the zone database knows, never the server's own.
func TestKnownTimeZone(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"America/Chicago": true, "Asia/Tokyo": true, "UTC": true,
		"": false, "Local": false, "Nowhere/Atlantis": false, "../../etc/passwd": false,
	} {
		if got := engine.KnownTimeZone(name); got != want {
			t.Errorf("KnownTimeZone(%q) = %v, want %v", name, got, want)
		}
	}
}
