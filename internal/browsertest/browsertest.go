// Package browsertest starts headless chromium for the browser tests (cmd/esm's portal, mail
// link and Temporal UI tests, the topology's UI sign-in) and reads what its page shows. Tests
// only: it takes a *testing.T and fails or skips the test itself.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium answers the path of Debian's chromium (chromium or chromium-browser on PATH). Without
// one the test is skipped, or fails when ESM_REQUIRE_BROWSER is set: CI installs chromium
// (.ci/run) and sets it, and there a browser test may not skip.
func Chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("ESM_REQUIRE_BROWSER") != "" {
		t.Fatal("chromium is not installed (apt-get install chromium)")
	}
	t.Skip("chromium is not installed; .ci/run installs it")
	return ""
}

// Start starts headless chromium at bin (driven over the DevTools protocol) with a profile of
// its own in a test folder, as a fresh person's browser, in a 1500x1100 window; extra adds to
// chromium's flags. It answers the browser's context, on about:blank; the browser stops when
// the test ends. A browser that does not start fails the test.
func Start(t *testing.T, bin string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	// The defaults include --headless, --no-first-run, --disable-background-networking and
	// --disable-sync.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1500, 1100), chromedp.UserDataDir(t.TempDir()))
	opts = append(opts, extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil { // start the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// WaitText waits until the page's visible text contains every one of want, reading it every
// 250 ms until timeout passes (or ctx ends), and answers the text and the first of want
// missing ("" when all showed).
func WaitText(ctx context.Context, timeout time.Duration, want ...string) (text, missing string) {
	for deadline := time.Now().Add(timeout); ; {
		text, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		missing = ""
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = w
				break
			}
		}
		if missing == "" || time.Now().After(deadline) || ctx.Err() != nil {
			return text, missing
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Screenshot writes the whole page as a PNG to path; a failure is logged, not fatal (the
// screenshot is for a person to look at).
func Screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Logf("screenshot %s: %v", path, err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", path, err)
	}
}

// ScrollUntil scrolls the page's code boxes (the Temporal UI's Input and Result: CodeMirror
// editors, which render only the lines in view) until the page's text contains want, then
// brings that line into view (for a screenshot). It answers the text, and want when it never
// showed (the boxes stopped moving, or 200 scrolls).
func ScrollUntil(ctx context.Context, want string) (string, string) {
	const scroll = `(() => {
		let moved = false;
		for (const box of document.querySelectorAll(".cm-scroller")) {
			const top = box.scrollTop;
			box.scrollTop += box.clientHeight * 0.7;
			moved = moved || box.scrollTop !== top;
		}
		return moved;
	})()`
	var text string
	for range 200 {
		if text, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"))); strings.Contains(text, want) {
			// Bring its line into view, for the screenshot.
			_, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
				const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
				while (w.nextNode()) {
					if (w.currentNode.textContent.includes(%q)) {
						w.currentNode.parentElement.scrollIntoView({block: "center"});
						return true;
					}
				}
				return false;
			})()`, want)))
			return text, ""
		}
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](scroll)); err != nil || !ok {
			return text, want
		}
		time.Sleep(100 * time.Millisecond)
	}
	return text, want
}
