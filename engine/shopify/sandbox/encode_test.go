package sandbox

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestAppendJSONRoundTrips(t *testing.T) {
	t.Parallel()
	m := &omap{}
	m.set("text", "quote \" backslash \\ newline \n tab \t bell \a unicode é ✓ \u2028")
	m.set("n", int64(-42))
	m.set("f", 2.5)
	m.set("whole", float64(2000))
	m.set("yes", true)
	m.set("none", nil)
	m.set("list", []any{"a", int64(1), nil, []string{"x", "y"}})
	m.set("json", map[string]any{"b": 1.0, "a": []any{"z"}})
	raw := appendJSON(nil, m)
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("invalid JSON %s: %v", raw, err)
	}
	want := map[string]any{
		"text": "quote \" backslash \\ newline \n tab \t bell \a unicode é ✓ \u2028",
		"n":    -42.0, "f": 2.5, "whole": 2000.0, "yes": true, "none": nil,
		"list": []any{"a", 1.0, nil, []any{"x", "y"}},
		"json": map[string]any{"b": 1.0, "a": []any{"z"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, want)
	}
}
