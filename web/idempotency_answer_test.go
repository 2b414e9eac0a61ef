package web

import (
	"reflect"
	"testing"
)

// An answer comes back from its encoding exactly; bytes that are not one
// (another format, cut short) are refused, never half-read.
func TestAnswerEncoding(t *testing.T) {
	t.Parallel()
	for _, a := range []*answer{
		{status: 201, header: []headerField{{"Content-Type", "application/json"}, {"Location", "/api/v2/venues/7"}},
			body: []byte(`{"id":7,"name":"Hall \u00e9 <b>"}`)},
		{status: 202, header: []headerField{{HeaderOperationID, "12"}}, body: []byte{}},
		{status: 200, header: []headerField{}, body: []byte("\x00\xff not json")},
	} {
		b := a.encode()
		got, err := decodeAnswer(b)
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", a, got, err)
		}
		if _, err := decodeAnswer(b[:len(b)-len(a.body)-1]); err == nil && len(a.header) > 0 {
			t.Errorf("%+v cut inside its header decoded", a)
		}
	}
	for _, bad := range [][]byte{nil, {}, {2, 201, 0}, {answerFormat}, {answerFormat, 0xc9, 0x01, 5}, {answerFormat, 42, 0}} {
		if a, err := decodeAnswer(bad); err == nil {
			t.Errorf("decode(%q) = %+v, want an error", bad, a)
		}
	}
}
