# parley: the two commands a newcomer needs are `make run` and `make test`.
GO ?= go
BIN ?= bin/parley

# Search needs SQLite's FTS5, which go-sqlite3 compiles in only with its
# sqlite_fts5 build tag: every go command below (run, build, vet, test,
# fuzz, bench, abuse, chaos, soak, screenshots) and every go build a test
# or the bench runs itself gets it through GOFLAGS. A build without it
# fails persistence.Open with a message that says so.
export GOFLAGS := $(strip $(GOFLAGS) -tags=sqlite_fts5)

.PHONY: run build test bench fmt lint fuzz chaos chaos-cluster soak screenshots abuse

# Fuzz targets, as package:Target. `make test` runs each for FUZZTIME_CI, a
# count of executions: a wall-clock -fuzztime fails with "context deadline
# exceeded" when a loaded machine has not finished the baseline corpus in
# time, which is a flake on a correct tree. `make fuzz` runs each for FUZZTIME.
FUZZ_TARGETS = ./actors:FuzzNormalizeUsername ./actors:FuzzNormalizeRoom ./actors:FuzzSkeleton ./actors:FuzzRoomActor \
	./internal/protocol:FuzzAppendJSONString ./internal/protocol:FuzzDecode ./internal/textsearch:FuzzSnippet \
	./transport:FuzzDispatch ./transport:FuzzDownloadName ./transport/park:FuzzFrameScan ./transport/park:FuzzFrameScanAgainstLibrary
FUZZTIME ?= 2m
FUZZTIME_CI ?= 2000x

## run: start the server on http://127.0.0.1:9001/ with ./chat.db
run:
	$(GO) run . $(ARGS)

## build: build the server binary into bin/parley
build:
	$(GO) build -o $(BIN) .

## test: vet, every test under the race detector, and each fuzz target for a fixed count of inputs
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_CI)

## fuzz: run each fuzz target for FUZZTIME (default 2m); crashers land in testdata/fuzz
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

## abuse: the abuse suite in its full form: every attack at the scale it was found at, timings asserted
# (without -race, which multiplies the server's CPU cost and so every latency; make test runs
# the suite's short form under -race)
abuse:
	PARLEY_ABUSE=full $(GO) test -count=1 -v -timeout 20m ./internal/abuse/

## bench: build and start a server, run the default load scenario, print the table
bench:
	$(GO) run ./bench $(ARGS)

## chaos: kill -9 the server 50 times under acknowledged load; no acked message may be lost
chaos:
	PARLEY_CHAOS_CYCLES=50 $(GO) test -race -count=1 -run TestKill9LosesNoAckedMessage -v -timeout 30m .

## chaos-cluster: three nodes, three NATS servers and PostgreSQL; kill -9 a node (and sometimes a NATS server) 20 times under acknowledged load
chaos-cluster:
	PARLEY_CHAOS_CLUSTER_CYCLES=20 $(GO) test -race -count=1 -run TestClusterKill9LosesNoAckedMessage -v -timeout 30m .

## soak: a -race server under mixed load for SOAK (default 10m), then 10,000 connect/abort cycles
SOAK ?= 10m
soak:
	PARLEY_SOAK=$(SOAK) PARLEY_LEAK_CYCLES=10000 $(GO) test -race -count=1 -run 'TestSoak|TestLeakConnectAbort' -v -timeout 0 .

## screenshots: regenerate docs/img/*.png with the browser tests' headless Chromium
screenshots:
	PARLEY_SCREENSHOTS=$(CURDIR)/docs/img PARLEY_BROWSER_TESTS=1 $(GO) test -count=1 -run 'TestBrowserScreenshots|TestBrowserSearchJumpsToMessage' ./client/

## fmt: format the code
fmt:
	gofmt -w $$(git ls-files '*.go')

## lint: gofmt check and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
