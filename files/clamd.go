package files

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Clamd asks ClamAV's daemon (clamd) about files with its INSTREAM command: the file is sent in
// chunks as it streams by, and the verdict comes when it ends. Addr is "host:port" (TCPSocket in
// clamd.conf) or a Unix socket path ("/run/clamav/clamd.ctl", or "unix:" and the path). clamd
// refuses a stream longer than its StreamMaxLength (25 MiB by default): set it at least as large
// as the largest max_bytes of the catalog, or such files cannot be scanned and are refused.
type Clamd struct {
	Addr string
	// Timeout bounds the whole scan (0: 5 minutes).
	Timeout time.Duration
}

// Infected is the verdict on an infected file: Signature names what clamd found.
type Infected struct{ Signature string }

func (e *Infected) Error() string { return "the file is infected: " + e.Signature }

// ErrScan: clamd could not give a verdict (not reachable, the file too long for its
// StreamMaxLength, an error of its own). The file is not accepted.
var ErrScan = errors.New("the virus scanner could not scan the file")

// Scan is one file being scanned: write the file to it, then Verdict.
type Scan struct {
	conn net.Conn
	werr error
	hdr  [4]byte
}

// Start opens a connection and begins an INSTREAM scan.
func (c *Clamd) Start(ctx context.Context) (*Scan, error) {
	network, addr := "tcp", c.Addr
	if strings.HasPrefix(addr, "unix:") {
		network, addr = "unix", strings.TrimPrefix(addr, "unix:")
	} else if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("%w: clamd at %s: %v", ErrScan, c.Addr, err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte("zINSTREAM\x00")); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("%w: clamd at %s: %v", ErrScan, c.Addr, err)
	}
	return &Scan{conn: conn}, nil
}

// Write sends p as chunks of the stream. A failure to send is kept for Verdict, not returned:
// clamd closes the stream when it is too long, and its reply says why.
func (s *Scan) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && s.werr == nil {
		k := min(len(p), 1<<16)
		binary.BigEndian.PutUint32(s.hdr[:], uint32(k))
		if _, s.werr = s.conn.Write(s.hdr[:]); s.werr == nil {
			_, s.werr = s.conn.Write(p[:k])
		}
		p = p[k:]
	}
	return n, nil
}

// Verdict ends the stream and reads clamd's answer: nil for a clean file, *Infected, or an
// error wrapping ErrScan.
func (s *Scan) Verdict() error {
	defer s.conn.Close()
	if s.werr == nil {
		_, s.werr = s.conn.Write([]byte{0, 0, 0, 0})
	}
	reply, err := io.ReadAll(io.LimitReader(s.conn, 4096))
	answer := strings.TrimSpace(string(bytes.TrimRight(reply, "\x00")))
	switch {
	case strings.HasSuffix(answer, " OK"):
		if s.werr != nil {
			return fmt.Errorf("%w: %v", ErrScan, s.werr)
		}
		return nil
	case strings.HasSuffix(answer, " FOUND"):
		sig := strings.TrimSuffix(strings.TrimPrefix(answer, "stream: "), " FOUND")
		return &Infected{Signature: sig}
	case answer != "":
		return fmt.Errorf("%w: clamd says %q", ErrScan, answer)
	case err != nil:
		return fmt.Errorf("%w: %v", ErrScan, err)
	default:
		return fmt.Errorf("%w: clamd closed the stream without a verdict (%v)", ErrScan, s.werr)
	}
}

// Abort drops the scan.
func (s *Scan) Abort() { _ = s.conn.Close() }
