# authwatch — see README.md. `make run` runs the pipeline locally on demo
# traffic; `make test` runs every test against real ClickHouse and NATS.
SHELL := /bin/bash
GO ?= go
export GOFLAGS ?= -mod=mod
# Packages whose tests exercise goroutines: these run under the race detector.
RACE_PKGS := ./client/... ./cmd/detector/... ./cmd/ingest/... ./cmd/loadgen/... ./cmd/notifier/... ./cmd/query/... ./examples/... ./internal/detector/... ./internal/httpapi/... ./internal/notifier/... ./internal/store/...

.PHONY: build run test test-unit clickhouse nats chcheck bench fuzz chaos vet fmt clean

build:
	$(GO) build -o bin/ ./cmd/...

run: build
	scripts/run.sh

clickhouse:
	scripts/clickhouse.sh start

nats:
	scripts/nats.sh start

# Every test: unit, and integration against a real ClickHouse server (started
# here if it is not running) and embedded NATS servers.
test: clickhouse vet
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)

test-unit:
	$(GO) test -short ./...

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# Runs every .sql migration on a current ClickHouse (chDB) as well.
chcheck:
	../shared/tools/chcheck schemas/clickhouse

# Ingest throughput against the minimal loop, the detector's drain rate,
# latency and state size, and per-event costs.
bench: build clickhouse nats
	$(GO) test -run '^$$' -bench . -benchmem ./event/ ./internal/enrich/ ./client/ ./internal/detect/
	$(GO) run ./internal/bench/ingest
	$(GO) run ./internal/bench/detector
	$(GO) run ./internal/bench/notifier
	scripts/bench-gateway.sh

# Regenerates docs/dashboard.png from the dashboard's browser test.
.PHONY: screenshot
screenshot: clickhouse
	DASHBOARD_SCREENSHOT=$(CURDIR)/docs/dashboard.png $(GO) test -count=1 -run TestDashboardInBrowser ./cmd/query/

# The fault suite (about 10 minutes, not part of make test): SIGKILLs of
# ingest, detector and query, a ClickHouse outage, a NATS restart, under
# load; prints the reliability table (README) and keeps it in var/chaos.md.
# Flags: make chaos ARGS='-only a,d -duration 30s'
chaos: build clickhouse nats
	$(GO) run ./internal/chaos $(ARGS)

# Fuzzes the event decoder and the API's parameter parsing, FUZZTIME each
# (default 5m: 10 minutes in all). A crasher is written to the package's
# testdata/fuzz/ and from then on runs in make test as a regression test.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $${FUZZTIME:-5m} ./event/
	$(GO) test -run '^$$' -fuzz FuzzParams -fuzztime $${FUZZTIME:-5m} ./internal/httpapi/

clean:
	rm -rf bin var

# Query API latency on 10M login + 10M token events (seeded once into
# authwatch_bench_query, reused after); table in var/bench-query.md.
# Flags: make bench-query ARGS='-duration 5s -only tenant'
.PHONY: bench-query
bench-query: clickhouse
	$(GO) run ./internal/bench/query $(ARGS)
