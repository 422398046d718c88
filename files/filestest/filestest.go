// Package filestest starts what the attachment tests need for real: ClamAV's daemon with a
// signature database of the test's own (the EICAR test string), and gives the EICAR bytes.
package filestest

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// EICAR is the anti-virus test file: harmless, and every scanner calls it infected (here,
// through the .hdb signature StartClamd writes, as there is no network for freshclam).
var EICAR = []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`)

// ClamdPath is where Debian's clamav-daemon puts clamd.
var ClamdPath = "/usr/sbin/clamd"

// StartClamd starts a clamd listening on a free loopback port, with a database directory holding
// only an MD5 signature of EICAR (Esm.Test.EICAR), and returns its address (host:port). It stops
// it when the test ends. Without clamd installed the test is skipped, unless ESM_REQUIRE_CLAMD is
// set (CI), where it fails saying how to install it.
func StartClamd(t testing.TB, streamMax string) string {
	t.Helper()
	if _, err := os.Stat(ClamdPath); err != nil {
		if os.Getenv("ESM_REQUIRE_CLAMD") != "" {
			t.Fatalf("ESM_REQUIRE_CLAMD is set but %s is missing: apt-get install clamav-daemon", ClamdPath)
		}
		t.Skipf("%s is missing (apt-get install clamav-daemon): the scan is not tested here", ClamdPath)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(EICAR)
	sig := fmt.Sprintf("%s:%d:Esm.Test.EICAR\n", hex.EncodeToString(sum[:]), len(EICAR))
	if err := os.WriteFile(filepath.Join(db, "esm-test.hdb"), []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	if streamMax == "" {
		streamMax = "25M"
	}
	conf := strings.Join([]string{
		"Foreground true",
		"TCPSocket " + fmt.Sprint(port),
		"TCPAddr 127.0.0.1",
		"DatabaseDirectory " + db,
		"TemporaryDirectory " + dir,
		"LogFile " + filepath.Join(dir, "clamd.log"),
		"PidFile " + filepath.Join(dir, "clamd.pid"),
		"StreamMaxLength " + streamMax,
		"MaxThreads 2",
		"SelfCheck 0",
		"",
	}, "\n")
	if os.Geteuid() == 0 {
		conf += "User root\n"
	}
	cfg := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ClamdPath, "--config-file="+cfg)
	out, err := os.Create(filepath.Join(dir, "clamd.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_, _ = c.Write([]byte("zPING\x00"))
			buf := make([]byte, 16)
			n, _ := c.Read(buf)
			_ = c.Close()
			if strings.HasPrefix(string(buf[:n]), "PONG") {
				return addr
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "clamd.out"))
			t.Fatalf("clamd did not answer on %s within a minute: %s", addr, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
