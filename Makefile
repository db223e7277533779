# mkimage — build, test, demo. See README.md.
#
#   make            build/mkimage (installs missing Debian packages first)
#   make check      unit tests (plain + ASan/UBSan), golden and bad-input tests
#   make image      build/demo.img from models/demo-x86_64.yaml
#   make demo       make image, then show it
#   make install    PREFIX=/usr/local DESTDIR=
#   make format     clang-format the sources
#   make fuzz       run every libFuzzer target FUZZ_SECONDS (default 60) each
#   make bench      cold benchmark against gensquashfs + veritysetup (not a test)

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= gcc
VERSION := 0.1.0
export SOURCE_DATE_EPOCH ?= 1767225600

PKGS := libsquashfs1 fdisk libsodium yaml-0.1 libarchive libcrypto ext2fs com_err libcryptsetup json-c libzstd

# Debian packages the build, the tests and the demo need.
DEB_PKGS := gcc make pkg-config libc6-dev \
	libsquashfs-dev squashfs-tools-ng squashfs-tools libzstd-dev \
	libfdisk-dev fdisk libsodium-dev libyaml-dev libarchive-dev \
	libext2fs-dev e2fsprogs libcryptsetup-dev cryptsetup-bin libssl-dev libjson-c-dev \
	minisign busybox-static zstd xz-utils gzip tar dosfstools mtools systemd-boot-efi cpio \
	clang libclang-rt-14-dev valgrind bmap-tools time \
	qemu-system-x86 ovmf kmod qemu-utils

# pkg-config runs once, lazily: after `deps` has installed the packages.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS)) -lpthread)$(PKG_LIBS)

WERROR   := $(if $(CI),-Werror,)
WARN     := -Wall -Wextra -Wmissing-prototypes -Wshadow -Wno-unused-parameter
CFLAGS   ?= -O2 -g
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(CFLAGS) $(WARN) $(WERROR) -Isigning -Ibuilder \
	-DMKIMAGE_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRCS := $(sort $(wildcard signing/*.c) $(filter-out builder/main.c builder/cli-%.c,$(wildcard builder/*.c)))
CLI_SRCS := builder/main.c $(sort $(wildcard builder/cli-*.c))
UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))

LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
ASAN_LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/asan/obj/%.o)
ASAN_CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/asan/obj/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
ASAN_UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/asan/tests/%)

.PHONY: all deps check unit-bins image demo components install format clean bench fuzz

# Example components: each components/NAME/build.sh OUTDIR assembles a tree,
# which is packed with components/NAME/component.yaml and signed with the
# development key (generated on first use, never committed).
COMPONENTS := $(patsubst components/%/build.sh,%,$(sort $(wildcard components/*/build.sh)))
DEV_KEY := $(BUILD)/keys/dev.key
COMP_FILES := $(COMPONENTS:%=$(BUILD)/components/%.comp)
all: $(BUILD)/mkimage

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make deps: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  else \
	    echo "make deps: missing Debian packages; run as root:" >&2; \
	    echo "  apt-get update && apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi

$(BUILD)/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/asan/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libmkimage.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/asan/libmkimage.a: $(ASAN_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/mkimage: $(CLI_OBJS) $(BUILD)/libmkimage.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/libmkimage.a $(PKG_LIBS)

# The boot-chain verifier for the initrd (qemu-boot/): static, stripped, no
# build paths, so the kernel component's initrd is reproducible.
VERIFY_SRCS := $(sort $(wildcard qemu-boot/*.c))
$(BUILD)/mkimage-verify: $(VERIFY_SRCS) qemu-boot/boot.h $(BUILD)/libmkimage.a
	$(CC) $(ALL_CFLAGS) -Iqemu-boot -static -s -ffile-prefix-map=$(CURDIR)=. -o $@ $(VERIFY_SRCS) \
		$(BUILD)/libmkimage.a -lsodium -lyaml

$(BUILD)/asan/mkimage: $(ASAN_CLI_OBJS) $(BUILD)/asan/libmkimage.a
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $(ASAN_CLI_OBJS) $(BUILD)/asan/libmkimage.a $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libmkimage.a | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/lib -o $@ $< $(BUILD)/libmkimage.a $(PKG_LIBS)

$(BUILD)/asan/tests/%: tests/unit/%.c $(BUILD)/asan/libmkimage.a | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Itests/lib -o $@ $< $(BUILD)/asan/libmkimage.a $(PKG_LIBS)

unit-bins: $(UNIT_BINS) $(ASAN_UNIT_BINS) $(BUILD)/asan/mkimage


$(DEV_KEY): | $(BUILD)/mkimage
	@mkdir -p $(dir $@)
	$(BUILD)/mkimage keygen $(BUILD)/keys/dev

.SECONDEXPANSION:
$(BUILD)/components/%.comp: $(BUILD)/mkimage $(DEV_KEY) $$(wildcard components/$$*/*)
	@mkdir -p $(dir $@)
	@rm -rf $(BUILD)/components/$*.tree $(BUILD)/components/$*.tree.meta.yaml $@ $@.minisig
	bash components/$*/build.sh $(BUILD)/components/$*.tree
	@# A recipe may write TREE.meta.yaml (the kernel: the version it really used).
	meta=components/$*/component.yaml; [ -f $(BUILD)/components/$*.tree.meta.yaml ] && meta=$(BUILD)/components/$*.tree.meta.yaml; \
	$(BUILD)/mkimage component pack $(BUILD)/components/$*.tree --meta $$meta --cache $(BUILD)/cache/components -o $@
	$(BUILD)/mkimage sign $@ --key $(DEV_KEY) || { rm -f $@; exit 1; }
	@rm -rf $(BUILD)/components/$*.tree $(BUILD)/components/$*.tree.meta.yaml

# The kernel component (Debian's kernel + the initrd) also holds the verifier
# and qemu-boot/init. MKIMAGE_VERIFY=FILE puts another static binary in its place.
MKIMAGE_VERIFY ?= $(BUILD)/mkimage-verify
$(BUILD)/components/kernel.comp: $(MKIMAGE_VERIFY) qemu-boot/init qemu-boot/mkinitrd.sh
$(BUILD)/components/kernel.comp: export MKIMAGE_VERIFY := $(MKIMAGE_VERIFY)

components: $(COMP_FILES)

check: $(BUILD)/mkimage unit-bins components $$(FUZZERS)
	@BUILD=$(BUILD) bash tests/run

# A benchmark against the standard tools, not a test (never part of check):
# fetches a ~590 MB Debian test root once, then times both sides. See
# tests/bench/README.md. BENCH_ROUNDS=N sets the paired runs (default 3).
bench: $(BUILD)/mkimage components
	BENCH_DIR=$(BUILD)/bench bash tests/bench/fetch-root.sh
	BENCH_DIR=$(BUILD)/bench MKIMAGE=$(BUILD)/mkimage SIGN_KEY=$(DEV_KEY) bash tests/bench/run.sh
	BENCH_DIR=$(BUILD)/bench MKIMAGE=$(BUILD)/mkimage bash tests/bench/factory.sh
	BENCH_DIR=$(BUILD)/bench MKIMAGE=$(BUILD)/mkimage SIGN_KEY=$(DEV_KEY) bash tests/bench/warm.sh

# The demo device's data-partition key (per device in a factory; never committed).
DATA_KEY := $(BUILD)/keys/data.key
$(DATA_KEY):
	@mkdir -p $(dir $@)
	@umask 077 && head -c 64 /dev/urandom >$@.tmp && mv $@.tmp $@

image: $(BUILD)/mkimage components $(DATA_KEY)
	$(BUILD)/mkimage build models/demo-x86_64.yaml --data-key $(DATA_KEY) -o $(BUILD)/demo.img

# Build, inspect and verify the demo image, then boot it under QEMU (OVMF,
# systemd-boot, the verifying initrd) and show the console up to MKIMAGE-BOOT-OK.
demo: image
	$(BUILD)/mkimage inspect $(BUILD)/demo.img
	$(BUILD)/mkimage verify $(BUILD)/demo.img --pub $(BUILD)/keys/dev.pub
	qemu-boot/run --timeout 300 --data-key $(DATA_KEY) --expect 'MKIMAGE-BOOT-OK' $(BUILD)/demo.img

install: $(BUILD)/mkimage
	install -D -m 0755 $(BUILD)/mkimage $(DESTDIR)$(PREFIX)/bin/mkimage
	install -D -m 0644 docs/mkimage.1 $(DESTDIR)$(PREFIX)/share/man/man1/mkimage.1

format:
	clang-format -i $(LIB_SRCS) $(CLI_SRCS) $(UNIT_SRCS) $(VERIFY_SRCS) \
		$(wildcard signing/*.h builder/*.h qemu-boot/*.h tests/lib/*.h)

clean:
	rm -rf $(BUILD)

# ---- fuzzing (docs/fuzzing.md) -------------------------------------------
# The library again, built with clang for libFuzzer + ASan + UBSan, and one
# fuzzer per parser (tests/fuzz/fuzz-NAME.c -> build/fuzz/fuzz-NAME).
#   make fuzz   runs each for FUZZ_SECONDS over a scratch copy of its corpus
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=gnu11 -D_GNU_SOURCE -g -O1 $(WARN) -Isigning -Ibuilder \
	-DMKIMAGE_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
FUZZ_SRCS    := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZERS      := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)

$(BUILD)/fuzz/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -MMD -MP -c $< -o $@

$(BUILD)/fuzz/libmkimage.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/fuzz-%: tests/fuzz/fuzz-%.c tests/fuzz/fuzz.h $(BUILD)/fuzz/libmkimage.a | deps
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Itests/fuzz -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< \
		$(BUILD)/fuzz/libmkimage.a $(PKG_LIBS)

fuzz: $(FUZZERS)
	BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh

-include $(shell find $(BUILD)/fuzz/obj -type f -name '*.d' 2>/dev/null)

-include $(shell find $(BUILD)/obj $(BUILD)/asan/obj -type f -name '*.d' 2>/dev/null)
