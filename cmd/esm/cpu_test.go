package main

import (
	"testing"
	"time"
)

// TestCPUPostgresNeverNegative: a postgres backend that exits between two samples (another
// client's connection closing) is left out of the difference instead of making it negative, as
// it did on a loaded CI run (postgres -13.75 ms per call); one that starts in between counts whole.
func TestCPUPostgresNeverNegative(t *testing.T) {
	before := cpuUse{pg: map[int]time.Duration{1: 50 * time.Millisecond, 2: 900 * time.Millisecond}}
	after := cpuUse{pg: map[int]time.Duration{1: 80 * time.Millisecond, 3: 20 * time.Millisecond}}
	if got := after.sub(before).postgres; got != 50*time.Millisecond {
		t.Errorf("postgres between the samples: %v, want 50ms (30ms of pid 1, 20ms of the new pid 3)", got)
	}
}
