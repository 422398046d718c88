# ESM: make run (everything up), make test (every test, real Temporal dev server and database).
GO ?= go
TEMPORAL_CLI_VERSION := v1.5.1

.PHONY: all build run test test-race test-short vet fmt check clean fuzz bench topology test-topology

all: build

build: bin/esm bin/temporal bin/mailpit bin/temporal-ui-server

bin/esm: FORCE
	$(GO) build -o bin/esm ./cmd/esm

# The Temporal CLI (dev server and UI), built from source and pinned in its own module, so the
# product's go.mod stays clean. About four minutes the first time; cached after.
bin/temporal: tools/temporal/go.mod tools/temporal/go.sum
	cd tools/temporal && $(GO) build -o ../../bin/temporal github.com/temporalio/cli/cmd/temporal
	@touch bin/temporal

# The Temporal server and its SQL schema tool (v1.29.1), for `make topology`: the real server on
# Postgres rather than the dev server. Pinned in their own module like the CLI; about seven minutes
# the first time, cached after.
bin/temporal-server: tools/temporal-server/go.mod tools/temporal-server/go.sum
	cd tools/temporal-server && $(GO) build -o ../../bin/temporal-server go.temporal.io/server/cmd/server
	@touch bin/temporal-server

bin/temporal-sql-tool: tools/temporal-server/go.mod tools/temporal-server/go.sum
	cd tools/temporal-server && $(GO) build -o ../../bin/temporal-sql-tool go.temporal.io/server/cmd/tools/sql
	@touch bin/temporal-sql-tool

# The Temporal UI server (ui-server v2.42.1, the UI of the CLI above) for the UI with sign-in
# and ESM's codec: deploy/temporal-ui holds its config. Pinned in its own module; about a minute.
bin/temporal-ui-server: tools/temporal-ui/go.mod tools/temporal-ui/go.sum
	cd tools/temporal-ui && $(GO) build -o ../../bin/temporal-ui-server github.com/temporalio/ui-server/v2/cmd/server
	@touch bin/temporal-ui-server

# Mailpit, the mail catcher esm dev starts for make run (SMTP and a web UI on free ports), built
# from source and pinned in its own module like the Temporal CLI. About a minute the first time.
bin/mailpit: tools/mailpit/go.mod tools/mailpit/go.sum
	cd tools/mailpit && $(GO) build -o ../../bin/mailpit github.com/axllent/mailpit
	@touch bin/mailpit

# MinIO, the S3-compatible server the S3 storage tests start (files/filestest.StartMinIO), built
# from source and pinned in its own module (a pseudo-version: MinIO tags releases as RELEASE.*, not
# semver). Not part of `make build` (make run needs no S3); `make test` builds it. About six minutes
# the first time; cached after.
bin/minio: tools/minio/go.mod tools/minio/go.sum
	cd tools/minio && $(GO) build -o ../../bin/minio github.com/minio/minio
	@touch bin/minio

run: build
	./bin/esm dev

# The production topology on this machine, without containers (topology/, esm topology): its own
# Postgres clusters under .data/topology, the Temporal server on Postgres, two esm api and two
# esm worker processes, esm idp, an esm api over https and the Temporal UI server signing in at the
# idp; prints where each is and its log. Ctrl-C stops all of it.
topology: bin/esm bin/temporal bin/temporal-server bin/temporal-sql-tool bin/temporal-ui-server
	./bin/esm topology

# The topology's tests (build tag topology, not in make test): it starts, requests resolve
# through both APIs and the workers, single processes are killed and started again; the fault
# test (topology/fault_test.go) runs 200 requests through kills, a Temporal restart, a database
# outage and a rolling deploy, checks each resolved once and each automated effect applied once,
# and prints its counts. CI runs it after test-race.
test-topology: bin/esm bin/temporal-server bin/temporal-sql-tool bin/temporal-ui-server
	$(GO) test -tags topology -count=1 -timeout 30m -v -run . ./topology/

# Every test. Integration tests start bin/temporal, the S3 storage tests bin/minio; with
# DATABASE_URL set, store and end-to-end tests run on Postgres as well as SQLite.
test: build bin/minio
	$(GO) test -count=1 -timeout 20m ./...

# The workflow tests under the race detector: a workflow's coroutines and its local activities
# (which run on goroutines of their own) must share nothing that either changes. CI runs it.
test-race:
	$(GO) test -race -count=1 -timeout 20m ./workflows/ ./catalog/

# Every fuzz target for a minute each (FUZZTIME=10s for a quick pass): JSON bodies, forms,
# definition YAML and JSON, CEL.
FUZZTIME ?= 60s
FUZZ_TARGETS := ./api:FuzzBodies ./api:FuzzForm ./api:FuzzMultipart ./catalog:FuzzParse ./catalog:FuzzDefinitionJSON ./catalog:FuzzCEL
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run XXX -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

# Throughput and latency against bare-SDK baselines on a fresh in-memory dev server, then the
# read model's Go benchmarks and the portal's pages at 100k requests (p50/p99 per page), on
# SQLite and, when DATABASE_URL is set, on Postgres. See docs/BENCHMARKS.md.
BENCH_N ?= 600
BENCH_C ?= 10
bench: build
	./bin/esm bench -n $(BENCH_N) -c $(BENCH_C)
	$(GO) test -run XXX -bench . -benchtime 200x ./store/
	$(GO) test -run XXX -bench PortalPages -benchtime 2000x ./web/

test-short:
	$(GO) test -short ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# What CI checks besides the tests.
check: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

clean:
	rm -rf bin .data

FORCE:
