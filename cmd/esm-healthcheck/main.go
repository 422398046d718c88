// Command esm-healthcheck is the ESM image's container health check (the image is distroless:
// no shell, no curl). It GETs the URL given as its only argument, waits at most 5 seconds, and
// exits 0 on a 200 answer, 1 otherwise, printing why. docker-compose.yml runs it against an
// API's /readyz, a worker's /metrics and the hooks' /healthz, the checks `esm topology` uses.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: esm-healthcheck http://127.0.0.1:8080/readyz")
		os.Exit(2)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "%s answered %s\n", os.Args[1], resp.Status)
		os.Exit(1)
	}
}
