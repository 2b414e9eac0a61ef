package web

import (
	"fmt"
	"testing"

	"eventops/storage"
)

// BenchmarkIdempotentWrite: one client creating venues and events, with an
// Idempotency-Key on each request or none; it reports the store's updates
// and group commits per request (for events, with the save operations
// they start run to their end), which a key must not raise.
func BenchmarkIdempotentWrite(b *testing.B) {
	for _, route := range []string{"venues", "events"} {
		for _, keyed := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/key=%v", route, keyed), func(b *testing.B) {
				f := setup(b)
				v, tt := f.venue(f.keyA), f.ticketType(f.keyA)
				body := `{"venue": {"name": "Hall", "time_zone": "UTC"}}`
				if route == "events" {
					body = eventBody(v, tt)
				}
				stats := func() storage.Stats {
					st, err := f.db.Stats()
					if err != nil {
						b.Fatal(err)
					}
					return st
				}
				type made struct{ ev, op uint64 }
				var ops []made
				st0 := stats()
				b.ResetTimer()
				for i := range b.N {
					var h []hdr
					if keyed {
						h = append(h, hdr{"Idempotency-Key", fmt.Sprintf("bench-%d", i)})
					}
					r := f.do("POST", "/api/v2/"+route, f.keyA, body, h...).expect(b, 201)
					if route == "events" {
						ops = append(ops, made{decode[struct{ ID uint64 }](b, r).ID, opHeader(b, r)})
					}
				}
				b.StopTimer()
				for _, o := range ops {
					f.waitTerminal(o.ev, o.op)
				}
				st := stats()
				b.ReportMetric(float64(st.Updates-st0.Updates)/float64(b.N), "updates/req")
				b.ReportMetric(float64(st.Commits-st0.Commits)/float64(b.N), "commits/req")
			})
		}
	}
}
