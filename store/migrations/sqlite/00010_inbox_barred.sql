-- +goose Up
-- Who may not decide a request's open step (catalog.RequestState.Barred): the approval inbox
-- hides a step from them, and, where on_behalf (BarredOnBehalf), from their delegates. Derived
-- rows like request_approvers, replaced with every projection; the rows of open requests are
-- derived from their stored state and definition after this migration (store.Migrate).
CREATE TABLE request_barred (
    request_id TEXT NOT NULL,
    person_id  TEXT NOT NULL,
    on_behalf  BOOLEAN NOT NULL,
    PRIMARY KEY (request_id, person_id)
);

-- +goose Down
DROP TABLE request_barred;
