package desk

import (
	"context"
	"time"

	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/worker"
)

// startChangeTimeout bounds how long a provisioning call waits for Temporal to take a change
// before it answers success and leaves the change to the sweep.
const startChangeTimeout = 5 * time.Second

// directoryChanged hands a recorded leaver/mover change to the DirectoryChange workflow, which
// applies it to what is in flight (ends delegations, flags owned services, sends each affected
// request DirectoryChangeUpdate), and marks it started (store.MarkChangeStarted). The workflow
// id is the change's key: a change handed over twice (a retried call, the worker's sweep,
// worker.Reconciler.StartDirectoryChanges) runs once, and a change applied before is not applied
// again (the id may not be reused).
//
// The change is recorded before this runs, so a start that fails (Temporal down or slow) loses
// nothing: it is logged, the caller is answered success, and the worker's sweep starts the
// change on its next round. Without a Temporal client (tests of the store alone) the change is
// only recorded, for the sweep.
func (d *Desk) directoryChanged(ctx context.Context, c store.DirectoryChange) {
	if d.temporal == nil {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, startChangeTimeout)
	defer cancel()
	if err := worker.StartDirectoryChange(sctx, d.temporal, c); err != nil {
		d.log.Warn("directory change recorded; its workflow was not started, the worker's sweep will start it",
			"change", c.Key, "person", c.Person, "kind", c.Kind, "error", err)
		return
	}
	if err := d.store.MarkChangeStarted(ctx, c.Key, d.now()); err != nil {
		// The sweep will find it unmarked, find its workflow started, and mark it.
		d.log.Warn("directory change started but not marked", "change", c.Key, "error", err)
	}
}
