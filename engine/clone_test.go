package engine_test

import (
	"reflect"
	"testing"
	"time"

	"eventops/engine"
)

// The clones handed out by the store's decode cache must share nothing
// mutable with the cached value: a caller changing its copy (a phase
// updating a structure, set-up remembered on a company) must never change
// what the next reader gets. Every field is filled, so a field added to a
// type without being copied in Clone fails here.
func TestClonesShareNothing(t *testing.T) {
	cases := []struct {
		name  string
		value any
		clone func(any) any
	}{
		{"Venue", &engine.Venue{}, func(v any) any { return v.(*engine.Venue).Clone() }},
		{"Event", &engine.Event{}, func(v any) any { return v.(*engine.Event).Clone() }},
		{"Company", &engine.Company{}, func(v any) any { return v.(*engine.Company).Clone() }},
		{"TicketStructure", &engine.TicketStructure{}, func(v any) any { return v.(*engine.TicketStructure).Clone() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fill(reflect.ValueOf(tc.value).Elem())
			c := tc.clone(tc.value)
			if !reflect.DeepEqual(tc.value, c) {
				t.Fatalf("clone differs from the original:\n%+v\n%+v", tc.value, c)
			}
			if path := shared(reflect.ValueOf(tc.value), reflect.ValueOf(c), tc.name); path != "" {
				t.Errorf("%s is shared between the original and its clone", path)
			}
		})
	}
	var nilEvent *engine.Event
	if nilEvent.Clone() != nil {
		t.Error("a nil event clones to non-nil")
	}
}

// fill sets every exported field, element and pointee to a non-zero value.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range v.Len() {
			fill(v.Index(i))
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(7)
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

// shared returns the path of the first pointer, slice or map that a and b
// have in common, or "".
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		if a.Type() == reflect.TypeOf(time.Time{}) {
			return ""
		}
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	case reflect.Slice:
		if a.Len() > 0 && b.Len() > 0 && a.Pointer() == b.Pointer() {
			return path
		}
		for i := range min(a.Len(), b.Len()) {
			if p := shared(a.Index(i), b.Index(i), path+"[]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			return path
		}
	}
	return ""
}
