package desk

import (
	"context"

	"github.com/esmhq/esm/store"
)

// directoryChanged is where a recorded leaver/mover change is handed to the process that
// applies it to requests in flight (a DirectoryChange workflow: end delegations, flag owned
// services, send each affected request an update). NOT wired yet (issue 22, see
// docs/DESIGN-NOTES.md): the change is only recorded.
func (d *Desk) directoryChanged(ctx context.Context, c store.DirectoryChange) error {
	return nil
}
