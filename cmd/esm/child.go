package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// startChild starts bin with args as a process esm dev runs beside itself (the Temporal dev
// server, the mail catcher), its output to .data/<logName>, in its own process group: Ctrl-C
// reaches esm, which stops the API and the worker first, then it. The returned func stops it
// (SIGTERM, then SIGKILL once grace has passed) and closes the log. An error is the log's
// creation, or "start <name>: <exec's error>" (name: the binary as the caller would have a
// person read it, with a hint).
func startChild(name, bin string, args []string, logName string, grace time.Duration) (func(), error) {
	logf, err := os.Create(filepath.Join(".data", logName))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	}, nil
}

// waitUp asks up every `every` until it answers true (true), or until within has passed or ctx
// ended (false).
func waitUp(ctx context.Context, within, every time.Duration, up func() bool) bool {
	deadline := time.Now().Add(within)
	for !up() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(every)
	}
	return true
}
