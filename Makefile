# parley: the two commands a newcomer needs are `make run` and `make test`.
GO ?= go
BIN ?= bin/parley

.PHONY: run build test bench fmt lint

## run: start the server on http://127.0.0.1:9001/ with ./chat.db
run:
	$(GO) run . $(ARGS)

## build: build the server binary into bin/parley
build:
	$(GO) build -o $(BIN) .

## test: vet and every test under the race detector
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

## bench: build and start a server, run the default load scenario, print the table
bench:
	$(GO) run ./bench $(ARGS)

## fmt: format the code
fmt:
	gofmt -w $$(git ls-files '*.go')

## lint: gofmt check and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
