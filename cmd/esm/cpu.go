package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuUse is the processor time spent so far by the parts of a benchmark that share the machine:
// this process (ESM's API and worker, or the baselines' bare client and worker, and the load
// generator), the Temporal dev server it started, and PostgreSQL.
type cpuUse struct {
	self, server, postgres time.Duration
	// pg is each postgres process's time by pid (a sample's, not a difference's): a difference
	// counts only the processes alive at its end, so a backend that exits in between (another
	// client's connection closing) never makes postgres's time go negative; it is left out,
	// and the figure is a lower bound.
	pg map[int]time.Duration
}

func (a cpuUse) add(b cpuUse) cpuUse {
	return cpuUse{self: a.self + b.self, server: a.server + b.server, postgres: a.postgres + b.postgres}
}

// sub is the processor time spent between sample b and the later sample a.
func (a cpuUse) sub(b cpuUse) cpuUse {
	d := cpuUse{self: a.self - b.self, server: a.server - b.server}
	for pid, t := range a.pg {
		if before, ok := b.pg[pid]; ok && before <= t {
			t -= before
		}
		d.postgres += t
	}
	return d
}

// cpuNow reads the processor time of this process from getrusage and that of the dev server
// (a child process named temporal) and of every postgres process from /proc. Where there is
// no /proc, only this process's time is known.
func cpuNow() cpuUse {
	var u cpuUse
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	me := strconv.Itoa(os.Getpid())
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended
		}
		// pid (comm) state ppid ... utime stime: fields 14 and 15, in clock ticks; comm may hold
		// spaces, so count from its closing parenthesis.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		comm, f := s[open+1:end], strings.Fields(s[end+1:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		// Linux reports in USER_HZ, 100 a second on every architecture Go runs on.
		t := time.Duration(ut+st) * 10 * time.Millisecond
		switch {
		case comm == "temporal" && f[1] == me:
			u.server += t
		case comm == "postgres":
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			if u.pg == nil {
				u.pg = map[int]time.Duration{}
			}
			u.pg[pid] = t
			u.postgres += t
		}
	}
	return u
}
