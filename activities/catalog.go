package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"go.temporal.io/sdk/temporal"
)

// Catalog reads definitions and records services' stages for the lifecycle workflows.
type Catalog struct {
	Store *store.Store
}

// DefinitionInput names one version of a service.
type DefinitionInput struct {
	Key     string
	Version int
}

// DefinitionResult is that version's definition, the providing department's head and the time
// zone of its calendar (periodic reviews fall due in it).
type DefinitionResult struct {
	Definition catalog.Definition
	Head       string
	TimeZone   string
}

// Definition loads one version of a service.
func (c *Catalog) Definition(ctx context.Context, in DefinitionInput) (DefinitionResult, error) {
	sv, err := c.Store.ServiceAt(ctx, in.Key, in.Version)
	if errors.Is(err, store.ErrNotFound) {
		return DefinitionResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no version %d of %s", in.Version, in.Key), "NoSuchVersion", err)
	}
	if err != nil {
		return DefinitionResult{}, fmt.Errorf("load %s v%d: %w", in.Key, in.Version, err)
	}
	res := DefinitionResult{Definition: sv.Definition}
	if d, err := c.Store.Department(ctx, sv.Definition.Department); err == nil {
		res.Head, res.TimeZone = d.Head, d.Calendar.TimeZone
	}
	return res, nil
}

// SaveDraftInput is a draft the lifecycle accepted: the definition, and the draft version the
// lifecycle knew before (so that a retry after the save committed returns the same version).
type SaveDraftInput struct {
	Definition catalog.Definition
	Known      int
	At         time.Time
}

// SaveDraftResult is the version the draft was stored as.
type SaveDraftResult struct{ Version int }

// SaveDraft stores a draft as the service's next version, once its lifecycle accepted it.
func (c *Catalog) SaveDraft(ctx context.Context, in SaveDraftInput) (SaveDraftResult, error) {
	v, err := c.Store.SaveDraft(ctx, in.Definition, in.Known, in.At)
	if err != nil {
		return SaveDraftResult{}, fmt.Errorf("save draft of %s: %w", in.Definition.Key, err)
	}
	return SaveDraftResult{Version: v}, nil
}

// StageInput is a service's stage as its lifecycle workflow decided it.
type StageInput struct {
	Key       string
	Stage     string
	Live      int
	Draft     int
	Successor string
	At        time.Time
}

// StageResult is empty.
type StageResult struct{}

// SetStage writes the stage; the API reads it to accept or refuse new requests.
func (c *Catalog) SetStage(ctx context.Context, in StageInput) (StageResult, error) {
	return StageResult{}, c.Store.SetStage(ctx, in.Key, in.Stage, in.Live, in.Draft, in.Successor, in.At)
}

// RetireInput is the retired stage a retiring service's lifecycle records once it knows of no
// request in flight.
type RetireInput struct {
	Key       string
	Live      int
	Draft     int
	Successor string
	At        time.Time
}

// RetireResult says the stage was recorded, or lists the requests the store still has open
// (written after the lifecycle listed the requests in flight): nothing was recorded then.
type RetireResult struct {
	Retired bool
	Open    []string `json:",omitempty"`
}

// Retire records the service retired when none of its requests is open (store.Retire).
func (c *Catalog) Retire(ctx context.Context, in RetireInput) (RetireResult, error) {
	open, err := c.Store.Retire(ctx, in.Key, in.Live, in.Draft, in.Successor, in.At)
	return RetireResult{Retired: err == nil && len(open) == 0, Open: open}, err
}

// OpenRequestsInput names a service.
type OpenRequestsInput struct{ Key string }

// OpenRequestsResult lists its requests in flight.
type OpenRequestsResult struct{ IDs []string }

// OpenRequests lists the service's requests in flight.
func (c *Catalog) OpenRequests(ctx context.Context, in OpenRequestsInput) (OpenRequestsResult, error) {
	ids, err := c.Store.OpenRequests(ctx, in.Key)
	return OpenRequestsResult{IDs: ids}, err
}
