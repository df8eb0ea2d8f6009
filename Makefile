# mod_jklg — build, test, run.  `make help` lists the targets.
#
# Flags are computed lazily (`=`, not `:=`), so that `make test` on a fresh
# machine can install apxs and the libraries (target deps) before anything
# asks them for include paths.

APXS     ?= apxs
PYTHON   ?= /usr/bin/python3
CC       ?= gcc
PORT     ?= 8080
VERSION  := 0.1.0

LIBS_PC   = jansson libsodium libcurl libpq libcrypt
APU_INC   = $(shell apu-1-config --includes)
APR_INC   = $(shell apr-1-config --includes --cppflags)
HTTPD_INC = -I$(shell $(APXS) -q INCLUDEDIR)
PC_CFLAGS = $(shell pkg-config --cflags $(LIBS_PC))
PC_LIBS   = $(shell pkg-config --libs $(LIBS_PC)) -lcrack

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
SANITIZE ?=
CFLAGS  += -std=gnu11 -O2 -g -fPIC -pthread $(WARN) $(SANITIZE) \
           -DJKLG_VERSION='"$(VERSION)"'
CPPFLAGS_ALL = $(HTTPD_INC) $(APR_INC) $(APU_INC) $(PC_CFLAGS) -Imod_jklg -Ibuild

CORE_SRC   = $(wildcard mod_jklg/jklg_*.c)
MODULE_SRC = $(wildcard mod_jklg/mod_jklg*.c)
TEMPLATES  = $(wildcard mod_jklg/templates/*)
CORE_OBJ   = $(CORE_SRC:mod_jklg/%.c=build/%.o) build/jklg_templates_builtin.o
MODULE_OBJ = $(MODULE_SRC:mod_jklg/%.c=build/%.o)
UNIT_SRC   = $(wildcard tests/unit/*.c)

MODULE   = build/mod_jklg.so
CORE_LIB = build/libjklg.a
UNIT_BIN = build/unit_tests

.PHONY: all deps test unit-test http-test run migrate install clean bench help

all: $(MODULE)

help:
	@echo "make            build $(MODULE)"
	@echo "make deps       install missing Debian packages (root)"
	@echo "make test       deps + build + C unit tests + HTTP suite"
	@echo "make run        deps + build + local instance on 127.0.0.1:$(PORT)"
	@echo "make migrate DATABASE_URL=postgres://...   apply sql/ migrations"
	@echo "make install    install the module and conf/ into Debian's Apache"
	@echo "make bench      wrk against a local instance"
	@echo "make deb        Debian package build/deb/libapache2-mod-jklg_$(VERSION)_<arch>.deb (+ lintian)"
	@echo "make deb-test   install the package in a Debian 12 root (debootstrap) and check it"

deps:
	@scripts/deps.sh

build:
	@mkdir -p build

build/%.o: mod_jklg/%.c mod_jklg/*.h | build
	$(CC) $(CFLAGS) $(CPPFLAGS_ALL) -c $< -o $@

# Built-in templates are compiled into the module from mod_jklg/templates/.
build/jklg_templates_builtin.c: $(TEMPLATES) scripts/embed_templates.sh | build
	scripts/embed_templates.sh $(TEMPLATES) > $@

build/jklg_templates_builtin.o: build/jklg_templates_builtin.c
	$(CC) $(CFLAGS) $(CPPFLAGS_ALL) -c $< -o $@

$(CORE_LIB): $(CORE_OBJ)
	$(AR) rcs $@ $^

$(MODULE): $(MODULE_OBJ) $(CORE_LIB)
	$(CC) -shared $(CFLAGS) -o $@ $(MODULE_OBJ) $(CORE_LIB) $(PC_LIBS) \
	    $(shell apu-1-config --link-ld --libs) $(shell apr-1-config --link-ld --libs)

$(UNIT_BIN): $(UNIT_SRC) tests/unit/*.h $(CORE_LIB)
	$(CC) $(CFLAGS) $(CPPFLAGS_ALL) $(shell pkg-config --cflags check) -Itests/unit \
	    -o $@ $(UNIT_SRC) $(CORE_LIB) $(shell pkg-config --libs check) $(PC_LIBS) \
	    $(shell apu-1-config --link-ld --libs) $(shell apr-1-config --link-ld --libs)

# The one command for a newcomer: installs what is missing, then builds and
# runs everything. Recursive so that flags are read after deps installed.
test: deps
	@$(MAKE) --no-print-directory unit-test http-test

unit-test: $(UNIT_BIN)
	CK_FORK=yes $(UNIT_BIN)

http-test: $(MODULE)
	cd tests && $(PYTHON) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

run: deps
	@$(MAKE) --no-print-directory $(MODULE)
	@$(PYTHON) scripts/run.py --port $(PORT)

migrate:
	@test -n "$(DATABASE_URL)" || { echo "usage: make migrate DATABASE_URL=postgres://user@host/db"; exit 2; }
	@scripts/migrate.sh "$(DATABASE_URL)"

install: $(MODULE)
	$(APXS) -i -n jklg $(MODULE)
	install -m 644 conf/jklg.load /etc/apache2/mods-available/jklg.load
	install -m 644 conf/jklg.conf /etc/apache2/sites-available/jklg.conf
	@echo "Installed. Edit /etc/apache2/sites-available/jklg.conf, then: a2enmod jklg && a2ensite jklg && systemctl reload apache2"

bench: deps
	@$(MAKE) --no-print-directory $(MODULE)
	@scripts/bench.sh

# The Debian package (docs/packaging.md), built in a copy of the tree.
.PHONY: deb deb-test
deb:
	@JKLG_DEB=1 scripts/deps.sh
	@scripts/deb.sh

# Not part of `make test`: root, network to a Debian mirror, ~1 GB in build/deb-root.
deb-test: deb
	@JKLG_DEB_TEST=1 scripts/deps.sh
	@scripts/deb-test.sh

clean:
	rm -rf build
