//go:build !unix

package engine_test

import "time"

// processCPU is not available here; benchmarks skip the CPU-per-save metric.
func processCPU() time.Duration { return 0 }
