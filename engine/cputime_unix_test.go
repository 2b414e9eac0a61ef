//go:build unix

package engine_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) this process has used, or 0
// when it cannot be read. Benchmarks report CPU per save with it: unlike
// wall time it does not depend on what else the machine runs.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
