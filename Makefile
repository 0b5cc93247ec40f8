# Zhizao: the README's two commands are `make demo` and `make test`.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: demo test deps build release bench clean

## demo: install what is missing, build, and run broker + daemon + gateways, printing what was stored
demo: deps release
	bash .ci/demo

## test: unit tests and integration tests (real mosquitto, real daemon, real SQLite)
test: deps
	swift build --build-tests
	swift test --skip-build

deps:
	@.ci/install-deps

build:
	swift build

release:
	swift build -c release

## bench: end-to-end ingest rate against a bare C subscriber on the same stream
bench: deps release
	bash Benchmarks/e2e/run.sh

clean:
	rm -rf .build
