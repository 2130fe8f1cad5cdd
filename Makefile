# Two commands matter: `make run` (the whole server under ./var) and `make test`.
CARGO ?= cargo
RELEASE := target/release
VAR ?= var

.PHONY: run test lint bench build clean install

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
	bench/outbound.sh

clean:
	$(CARGO) clean

## Installs programs, example config (only where none exists), systemd units and man pages:
## `make install PREFIX=/usr/local DESTDIR=/tmp/stage`. NO_BUILD=1 installs what RELEASE holds.
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc/mail
UNITDIR ?= $(PREFIX)/lib/systemd/system
MANDIR ?= $(PREFIX)/share/man
PROGRAMS := smtpd spam-scan queue-runner local-deliver mail-launch mailctl imapd pop3d

install: $(if $(NO_BUILD),,build)
	install -d -m 0755 $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man8
	for p in $(PROGRAMS); do install -m 0755 $(RELEASE)/$$p $(DESTDIR)$(PREFIX)/bin/$$p || exit 1; done
	test -e $(DESTDIR)$(SYSCONFDIR)/mail.toml || sed \
		-e 's|^spool_dir = "spool"|spool_dir = "/var/spool/mailserver"|' \
		-e 's|^mail_root = "mail" |mail_root = "/var/vmail" |' \
		-e 's|^# run_as = "mail" .*|run_as = "mail"\nbin_dir = "$(PREFIX)/bin"|' \
		etc/mail.toml > $(DESTDIR)$(SYSCONFDIR)/mail.toml
	test -e $(DESTDIR)$(SYSCONFDIR)/aliases || install -m 0644 etc/aliases $(DESTDIR)$(SYSCONFDIR)/aliases
	for u in etc/systemd/*.service etc/systemd/*.socket; do \
		sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' -e 's|/etc/mail/mail.toml|$(SYSCONFDIR)/mail.toml|g' $$u \
			> $(DESTDIR)$(UNITDIR)/$$(basename $$u) && chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u) || exit 1; \
	done
	$(RELEASE)/mailctl man --dir $(DESTDIR)$(MANDIR)/man8 --bin-dir $(RELEASE) >/dev/null
