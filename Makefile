# Two commands matter: `make run` (the whole server under ./var) and `make test`.
CARGO ?= cargo
RELEASE := target/release
VAR ?= var

.PHONY: run test lint bench build clean

build:
	$(CARGO) build --release --bins

## Runs the whole stack on 127.0.0.1 (SMTP 2525, submission 2587, submissions 2465) with data
## under ./var and a demo user demo@example.test / demo. Ctrl-C stops everything.
run: build
	$(RELEASE)/mailctl init $(VAR) --from etc
	$(RELEASE)/mailctl --config $(VAR)/mail.toml run

## Every test: unit tests in lib/, integration tests in tests/ (real binaries, loopback sockets).
test:
	$(CARGO) build --bins
	$(CARGO) test --all-targets

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

## Benchmarks (see bench/README.md); figures go to README's performance section.
bench: build
	bench/smtp.sh
	@if [ -x bench/pop3.sh ]; then bench/pop3.sh; fi
	@if [ -x bench/imap.sh ]; then bench/imap.sh; fi

clean:
	$(CARGO) clean
