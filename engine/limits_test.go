package engine_test

import (
	"strings"
	"testing"

	"eventops/engine"
)

// codes lists field errors as "attribute:code".
func codes(fs []engine.FieldError) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Attribute+":"+f.Code)
	}
	return out
}

// The exported checks are the rules the engine applies to a write and that
// clients (the import's dry run) call before sending: one rule, one place.
func TestExportedChecks(t *testing.T) {
	t.Parallel()
	types := func(n int) *engine.Event {
		return &engine.Event{RegistrationTypes: make([]engine.RegistrationType, n)}
	}
	shop := &engine.Company{Shop: &engine.Shop{}}
	cases := []struct {
		name string
		got  []engine.FieldError
		want string // "" when valid
	}{
		{"name ok", engine.CheckName("name", "Jazz night"), ""},
		{"name blank", engine.CheckName("name", ""), "name:blank"},
		{"name control", engine.CheckName("name", "a\tb"), "name:invalid"},
		{"name 200 runes", engine.CheckName("name", strings.Repeat("é", engine.MaxNameLen)), ""},
		{"name 201 runes", engine.CheckName("name", strings.Repeat("é", engine.MaxNameLen+1)), "name:too_long"},
		{"zone ok", engine.CheckTimeZone("time_zone", "America/Chicago"), ""},
		{"zone UTC", engine.CheckTimeZone("time_zone", "UTC"), ""},
		{"zone blank", engine.CheckTimeZone("time_zone", ""), "time_zone:blank"},
		{"zone unknown", engine.CheckTimeZone("time_zone", "Mars/Olympus"), "time_zone:invalid"},
		{"zone Local", engine.CheckTimeZone("time_zone", "Local"), "time_zone:invalid"},
		{"zone control", engine.CheckTimeZone("time_zone", "UTC\n"), "time_zone:invalid"},
		{"fan-out at the limit", engine.CheckFanOut(&engine.Company{}, types(10), engine.MaxTicketRecords/10), ""},
		{"fan-out over", engine.CheckFanOut(&engine.Company{}, types(11), 500), "registration_types:limit_exceeded"},
		{"shop variants at the limit", engine.CheckFanOut(shop, types(engine.MaxShopVariants), 1), ""},
		{"shop variants over", engine.CheckFanOut(shop, types(engine.MaxShopVariants+1), 1), "registration_types:limit_exceeded"},
		{"no shop: variants unbounded", engine.CheckFanOut(&engine.Company{}, types(engine.MaxShopVariants+1), 1), ""},
	}
	for _, c := range cases {
		got := strings.Join(codes(c.got), ",")
		if got != c.want {
			t.Errorf("%s: field errors %q, want %q (%v)", c.name, got, c.want, c.got)
		}
	}
}
