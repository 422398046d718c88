package files_test

import "time"

func runtimeSleep() { time.Sleep(2 * time.Millisecond) }
