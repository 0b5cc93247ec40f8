# Zhizao: the README's two commands are `make demo` and `make test`.
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: demo test deps build release bench clean install uninstall fuzz sparkplug-proto format format-check

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR ?= /etc/systemd/system

## demo: install what is missing, build, and run broker + daemon + gateways, printing what was stored
demo: deps release
	bash .ci/demo

## test: unit tests and integration tests (real mosquitto, real daemon, real SQLite)
test: deps
	swift build --build-tests
	swift test --skip-build

## fuzz: the decoders' property-based fuzzers: two million mutated payloads and 500,000 Sparkplug ones (CI runs 100,000 and 25,000)
fuzz: deps
	swift build --build-tests
	ZHIZAO_FUZZ_ITERATIONS=2000000 swift test --skip-build --filter Fuzz

deps:
	@.ci/install-deps

# The Swift files swift-format keeps (the generated protobuf code is left as protoc-gen-swift writes it).
SWIFT_FILES = $$(git ls-files '*.swift' | grep -v '\.pb\.swift$$')

## format: format the Swift sources in place with swift-format (ships with the toolchain; settings in .swift-format)
format:
	swift format format --in-place --parallel $(SWIFT_FILES)

## format-check: fail when a Swift file is not formatted or breaks a lint rule (CI runs it)
format-check:
	swift format lint --strict --parallel $(SWIFT_FILES)

build:
	swift build

release:
	swift build -c release

## bench: end-to-end ingest rate against a bare C subscriber on the same stream
bench: deps release
	bash Benchmarks/e2e/run.sh

clean:
	rm -rf .build

## install: the binary, the systemd units (the backup timer not enabled), an example config and registry (kept if present), the docs
install: release
	install -D -m 0755 .build/release/zhizao $(DESTDIR)$(PREFIX)/bin/zhizao
	install -d $(DESTDIR)$(UNITDIR)
	for u in zhizao.service zhizao-backup.service zhizao-backup.timer; do \
		sed 's|/usr/local/|$(PREFIX)/|g' systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; done
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/zhizao
	[ -e $(DESTDIR)$(SYSCONFDIR)/zhizao/zhizao.yaml ] || install -m 0644 systemd/zhizao.yaml $(DESTDIR)$(SYSCONFDIR)/zhizao/zhizao.yaml
	[ -e $(DESTDIR)$(SYSCONFDIR)/zhizao/devices ] || cp -r Devices $(DESTDIR)$(SYSCONFDIR)/zhizao/devices
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/zhizao/README.md
	install -D -m 0644 systemd/mosquitto-zhizao.conf $(DESTDIR)$(PREFIX)/share/doc/zhizao/mosquitto-zhizao.conf
	install -D -m 0644 systemd/mosquitto-gateways.conf $(DESTDIR)$(PREFIX)/share/doc/zhizao/mosquitto-gateways.conf
	install -D -m 0644 systemd/mosquitto-zhizao.acl $(DESTDIR)$(PREFIX)/share/doc/zhizao/mosquitto-zhizao.acl
	@if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then systemctl daemon-reload; fi
	@echo "installed; next: edit $(SYSCONFDIR)/zhizao/zhizao.yaml, then systemctl enable --now zhizao"

## uninstall: removes what install put in place; keeps the config in $(SYSCONFDIR)/zhizao and the data in /var/lib/zhizao
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/zhizao $(DESTDIR)$(UNITDIR)/zhizao.service
	rm -f $(DESTDIR)$(UNITDIR)/zhizao-backup.service $(DESTDIR)$(UNITDIR)/zhizao-backup.timer
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/zhizao
	@echo "kept $(SYSCONFDIR)/zhizao (config, registry) and /var/lib/zhizao (data)"

## sparkplug-proto: regenerate Sources/Sparkplug/sparkplug_b.pb.swift (needs protoc; builds swift-protobuf's plugin once)
sparkplug-proto:
	command -v protoc >/dev/null || sudo apt-get install -y protobuf-compiler
	swift build -c release --package-path .build/checkouts/swift-protobuf --product protoc-gen-swift
	protoc --plugin=protoc-gen-swift=.build/checkouts/swift-protobuf/.build/release/protoc-gen-swift \
	  --swift_out=Sources/Sparkplug --swift_opt=Visibility=Internal --proto_path=Schemas Schemas/sparkplug_b.proto
