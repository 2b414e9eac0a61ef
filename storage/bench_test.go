package storage

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"eventops/engine"
	"eventops/storage/pgtest"
)

// benchValue makes a venue whose stored value is about 300 bytes.
func benchValue(id uint64) *engine.Venue {
	return &engine.Venue{ID: id, CompanyID: 1, Name: benchName, TimeZone: "Europe/Amsterdam"}
}

var benchName = strings.Repeat("n", 200)

// openBench opens the store to measure: bbolt, or PostgreSQL with
// EVENTOPS_TEST_STORE=postgres.
func openBench(b *testing.B) *DB {
	b.Helper()
	if pgtest.Postgres() {
		return setup(b)
	}
	db, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func benchWrite(tx engine.Tx) error {
	id, err := tx.NextID(engine.SeqVenue)
	if err != nil {
		return err
	}
	return tx.PutVenue(benchValue(id))
}

// BenchmarkCommitBatched measures durable writes per second when 256
// goroutines write at once and share commits (group commit, real fsyncs).
func BenchmarkCommitBatched(b *testing.B) {
	db := openBench(b)
	const writers = 256
	var left atomic.Int64
	left.Store(int64(b.N))
	ctx := context.Background()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := db.Update(ctx, benchWrite); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
	if s, _ := db.Stats(); s.Commits > 0 {
		b.ReportMetric(float64(s.Updates)/float64(s.Commits), "writes/commit")
	}
}

// BenchmarkCommitSingle measures commits per second with one writer at a
// time: every write pays its own commit.
func BenchmarkCommitSingle(b *testing.B) {
	db := openBench(b)
	ctx := context.Background()
	for b.Loop() {
		if err := db.Update(ctx, benchWrite); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkViewRead measures read transactions of one record each (a GET
// that misses the API's operation cache) from 64 goroutines at once.
func BenchmarkViewRead(b *testing.B) {
	db := openBench(b)
	if err := db.Update(context.Background(), benchWrite); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			err := db.View(func(tx engine.Tx) error {
				v, err := tx.Venue(1)
				if err == nil && v == nil {
					b.Error("venue 1 is missing")
				}
				return err
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "views/s")
}
