package catalog

import (
	"fmt"
	"time"
)

func parseGoDuration(s string) (time.Duration, error) { return time.ParseDuration(s) }

// formatDuration writes whole days as "Nd" and the rest as Go does: "3d", "1d12h0m0s", "4h0m0s".
func formatDuration(d Duration) string {
	td := time.Duration(d)
	day := 24 * time.Hour
	days := td / day
	rest := td % day
	switch {
	case days > 0 && rest == 0:
		return fmt.Sprintf("%dd", days)
	case days > 0:
		return fmt.Sprintf("%dd%s", days, rest)
	}
	return td.String()
}

// Std returns the time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }
