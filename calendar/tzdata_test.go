package calendar

import (
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestZonesWithoutSystemData: a process on a machine without time-zone data (no
// /usr/share/zoneinfo, ZONEINFO an empty directory) still knows every zone, because the binary
// embeds time/tzdata; two workers never disagree on a calendar's instants. The test runs itself
// again in a mount namespace where the system's zone directories are empty.
func TestZonesWithoutSystemData(t *testing.T) {
	if os.Getenv("ESM_TZ_CHILD") == "1" {
		if _, err := os.Stat("/usr/share/zoneinfo/Europe/London"); err == nil {
			t.Fatal("the system's zone data is still there")
		}
		c := nineToFive()
		if errs := c.Validate(); len(errs) > 0 {
			t.Fatalf("Validate: %v", errs)
		}
		loc, err := c.Location()
		if err != nil || loc.String() != "Europe/London" {
			t.Fatalf("Location: %v, %v", loc, err)
		}
		// 2026-07-01 is summer time in London: 09:00 there is 08:00 UTC.
		start := c.Add(time.Date(2026, 7, 1, 7, 0, 0, 0, time.UTC), time.Minute)
		if want := time.Date(2026, 7, 1, 8, 1, 0, 0, time.UTC); !start.Equal(want) {
			t.Fatalf("Add: %v, want %v", start.UTC(), want)
		}
		return
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare here to hide the system's zone data")
	}
	hide := `for d in /usr/share/zoneinfo /usr/share/lib/zoneinfo /usr/lib/locale/TZ /etc/zoneinfo; do
  if [ -d "$d" ]; then mount -t tmpfs none "$d" || exit 99; fi
done
exec "$0" "$@"`
	cmd := exec.Command(unshare, "-m", "sh", "-c", hide, os.Args[0], "-test.run=^TestZonesWithoutSystemData$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "ESM_TZ_CHILD=1", "ZONEINFO="+t.TempDir(), "GOROOT="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 99 || err != nil && !errors.As(err, &exit) {
		t.Skipf("cannot hide the system's zone data here (%v): %s", err, out)
	}
	if err != nil {
		t.Fatalf("without the system's zone data: %v\n%s", err, out)
	}
}

// TestUnknownZone: a calendar in a zone nobody knows is refused where it is loaded, and never
// read as UTC.
func TestUnknownZone(t *testing.T) {
	c := nineToFive()
	c.TimeZone = "Europe/Atlantis"
	if errs := c.Validate(); len(errs) == 0 {
		t.Error("Validate took an unknown zone")
	}
	if _, err := c.Location(); err == nil {
		t.Error("Location took an unknown zone")
	}
}
