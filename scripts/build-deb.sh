#!/usr/bin/env bash
# Builds the Debian package egress25_<version>_<arch>.deb from a release build, with Debian's own tools
# (dpkg-deb, dpkg-shlibdeps). The Swift runtime is linked statically (--static-swift-stdlib), so the package needs
# no Swift toolchain on the router; its Depends are what dpkg-shlibdeps finds the binaries linking.
#
#   scripts/build-deb.sh [--output DIR] [--version-override VERSION] [--scratch-path DIR] [--build-only]
#
# The version is written once, in Sources/CEgress25Version/version.c: this script asks the built egress25d for it
# (`--version`), and refuses to build when packaging/debian/changelog's newest entry names another version.
# --version-override stamps another version into the build (for the upgrade test: version N before N+1); the
# source file is restored on exit, and the changelog gets an entry for it in the package only.
#
# --scratch-path is SwiftPM's build directory (default .build); --build-only stops after the release build (CI warms
# it in the background while the tests run). Prints the path of the .deb on the last line. Needs: swift, dpkg-dev,
# binutils (strip), gzip.
set -euo pipefail
cd "$(dirname "$0")/.."

OUTPUT=.build/deb
VERSION_OVERRIDE=""
SCRATCH=.build
BUILD_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --output) OUTPUT=$2; shift 2 ;;
        --version-override) VERSION_OVERRIDE=$2; shift 2 ;;
        --scratch-path) SCRATCH=$2; shift 2 ;;
        --build-only) BUILD_ONLY=1; shift ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-deb.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

for tool in dpkg-deb dpkg-shlibdeps dpkg-parsechangelog strip gzip; do
    command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool is missing (apt-get install dpkg-dev binutils gzip)" >&2; exit 1; }
done

VERSION_SOURCE=Sources/CEgress25Version/version.c
EXECUTABLES=(egress25d egress25ctl egress25-admin)
ARCH=$(dpkg --print-architecture)
WORK=$(mktemp -d)
cleanup() {
    if [ -f "$WORK/version.c" ]; then cp "$WORK/version.c" "$VERSION_SOURCE"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "$VERSION_OVERRIDE" ]; then
    if ! [[ "$VERSION_OVERRIDE" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]]; then
        echo "build-deb.sh: --version-override $VERSION_OVERRIDE is not a Debian version" >&2
        exit 2
    fi
    cp -p "$VERSION_SOURCE" "$WORK/version.c"
    sed -i "s/^#define EGRESS25_VERSION \".*\"$/#define EGRESS25_VERSION \"$VERSION_OVERRIDE\"/" "$VERSION_SOURCE"
    grep -q "^#define EGRESS25_VERSION \"$VERSION_OVERRIDE\"$" "$VERSION_SOURCE" ||
        { echo "build-deb.sh: could not stamp the version into $VERSION_SOURCE" >&2; exit 1; }
fi

# Release build, Swift runtime linked in; full RELRO and immediate binding, as Debian builds its daemons.
BUILD_FLAGS=(-c release --static-swift-stdlib -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now --scratch-path "$SCRATCH")
for executable in "${EXECUTABLES[@]}"; do
    echo "build-deb.sh: swift build ${BUILD_FLAGS[*]} --product $executable" >&2
    swift build "${BUILD_FLAGS[@]}" --product "$executable" >&2
done
BIN=$(swift build "${BUILD_FLAGS[@]}" --show-bin-path)
if [ "$BUILD_ONLY" = 1 ]; then echo "build-deb.sh: built in $BIN" >&2; exit 0; fi

VERSION=$("$BIN/egress25d" --version)
for executable in "${EXECUTABLES[@]}"; do
    answered=$("$BIN/$executable" --version)
    [ "$answered" = "$VERSION" ] ||
        { echo "build-deb.sh: $executable --version says $answered, egress25d says $VERSION" >&2; exit 1; }
done
CHANGELOG_VERSION=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
if [ -n "$VERSION_OVERRIDE" ]; then
    [ "$VERSION" = "$VERSION_OVERRIDE" ] ||
        { echo "build-deb.sh: the stamped build says $VERSION, not $VERSION_OVERRIDE" >&2; exit 1; }
elif [ "$VERSION" != "$CHANGELOG_VERSION" ]; then
    echo "build-deb.sh: the binaries are version $VERSION ($VERSION_SOURCE) but packaging/debian/changelog's" \
        "newest entry is $CHANGELOG_VERSION: add a changelog entry for $VERSION" >&2
    exit 1
fi
# Reproducible timestamps: the changelog entry's date (SOURCE_DATE_EPOCH, as dpkg-buildpackage sets it).
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l packaging/debian/changelog -S Timestamp)
export SOURCE_DATE_EPOCH
MANUAL_DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)

ROOT="$WORK/root"
install -d -m 0755 "$ROOT/DEBIAN" "$ROOT/usr/bin"

# The executables, stripped (the Swift metadata sections stay: strip removes only symbols and debug info).
for executable in "${EXECUTABLES[@]}"; do
    install -m 0755 "$BIN/$executable" "$ROOT/usr/bin/$executable"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$ROOT/usr/bin/$executable"
done

# systemd units (Debian 12 keeps them in /lib/systemd/system), pointing at /usr/bin instead of the manual
# install's /usr/local/bin; sysusers.d and tmpfiles.d entries.
install -d -m 0755 "$ROOT/lib/systemd/system" "$ROOT/usr/lib/sysusers.d" "$ROOT/usr/lib/tmpfiles.d"
for unit in egress25-rules.service egress25d.service egress25-admin.service; do
    sed -e 's,/usr/local/bin/,/usr/bin/,g' "deploy/$unit" > "$ROOT/lib/systemd/system/$unit"
    chmod 0644 "$ROOT/lib/systemd/system/$unit"
    if grep -q /usr/local "$ROOT/lib/systemd/system/$unit"; then
        echo "build-deb.sh: $unit still names /usr/local" >&2
        exit 1
    fi
done
install -m 0644 deploy/sysusers.d/egress25.conf "$ROOT/usr/lib/sysusers.d/egress25.conf"
install -m 0644 deploy/tmpfiles.d/egress25.conf "$ROOT/usr/lib/tmpfiles.d/egress25.conf"

# The configuration (a conffile) and the reference rules rendered from it.
install -d -m 0755 "$ROOT/etc/egress25" "$ROOT/usr/share/egress25"
install -m 0644 deploy/egress25.yaml "$ROOT/etc/egress25/egress25.yaml"
install -m 0644 rules/egress25.nft rules/egress25-iptables.sh "$ROOT/usr/share/egress25/"

# Man pages: the three executables' from swift-argument-parser's generate-manual (their --help, as mdoc), and the
# hand-written egress25.yaml(5).
install -d -m 0755 "$ROOT/usr/share/man/man8" "$ROOT/usr/share/man/man5"
GENERATE_MANUAL=$(scripts/generate-manual-tool.sh "$SCRATCH")
mkdir -p "$WORK/man"
for executable in "${EXECUTABLES[@]}"; do
    "$GENERATE_MANUAL" "$ROOT/usr/bin/$executable" --section 8 --date "$MANUAL_DATE" \
        --authors "egress25 developers<egress25@example.net>" --output-directory "$WORK/man" >&2
    # A blank line in a command's discussion is a paragraph break; mdoc wants .Pp there (groff warns otherwise).
    sed 's/^$/.Pp/' "$WORK/man/$executable.8" > "$ROOT/usr/share/man/man8/$executable.8"
    chmod 0644 "$ROOT/usr/share/man/man8/$executable.8"
done
install -m 0644 packaging/man/egress25.yaml.5 "$ROOT/usr/share/man/man5/egress25.yaml.5"
gzip -9n "$ROOT"/usr/share/man/man*/*

# Shell completions, generated by swift-argument-parser from the same command definitions.
install -d -m 0755 "$ROOT/usr/share/bash-completion/completions" "$ROOT/usr/share/zsh/vendor-completions" \
    "$ROOT/usr/share/fish/vendor_completions.d"
for executable in "${EXECUTABLES[@]}"; do
    # bash-completion sources the file: no #! line.
    "$ROOT/usr/bin/$executable" --generate-completion-script bash | sed '1{/^#!/d}' \
        > "$ROOT/usr/share/bash-completion/completions/$executable"
    "$ROOT/usr/bin/$executable" --generate-completion-script zsh > "$ROOT/usr/share/zsh/vendor-completions/_$executable"
    "$ROOT/usr/bin/$executable" --generate-completion-script fish \
        > "$ROOT/usr/share/fish/vendor_completions.d/$executable.fish"
done
chmod 0644 "$ROOT"/usr/share/bash-completion/completions/* "$ROOT"/usr/share/zsh/vendor-completions/* \
    "$ROOT"/usr/share/fish/vendor_completions.d/*

# Documentation: copyright, changelog (a native package's is changelog.gz), the README.
install -d -m 0755 "$ROOT/usr/share/doc/egress25"
install -m 0644 packaging/debian/copyright "$ROOT/usr/share/doc/egress25/copyright"
if [ -n "$VERSION_OVERRIDE" ] && [ "$VERSION" != "$CHANGELOG_VERSION" ]; then
    {
        printf 'egress25 (%s) bookworm; urgency=medium\n\n  * A test build: scripts/build-deb.sh --version-override.\n\n' "$VERSION"
        printf ' -- egress25 developers <egress25@example.net>  %s\n\n' "$(date -u -R)"
        cat packaging/debian/changelog
    } > "$WORK/changelog"
else
    cp packaging/debian/changelog "$WORK/changelog"
fi
gzip -9n -c "$WORK/changelog" > "$ROOT/usr/share/doc/egress25/changelog.gz"
gzip -9n -c README.md > "$ROOT/usr/share/doc/egress25/README.md.gz"
gzip -9n -c rules/README.md > "$ROOT/usr/share/doc/egress25/rules.md.gz"
install -d -m 0755 "$ROOT/usr/share/lintian/overrides"
install -m 0644 packaging/debian/lintian-overrides "$ROOT/usr/share/lintian/overrides/egress25"
chmod 0644 "$ROOT"/usr/share/doc/egress25/*

# Maintainer scripts and control files.
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$ROOT/DEBIAN/"
(cd "$ROOT" && find etc -type f | sed 's,^,/,' | sort) > "$ROOT/DEBIAN/conffiles"

# Depends: the shared libraries the binaries link, as dpkg-shlibdeps maps them to packages (it wants a
# debian/control beside it), plus adduser (postinst, on systems without systemd-sysusers) and
# init-system-helpers (deb-systemd-helper and deb-systemd-invoke, as dh_installsystemd's snippets need).
mkdir -p "$WORK/shlibs/debian"
printf 'Source: egress25\n\nPackage: egress25\nArchitecture: any\n' > "$WORK/shlibs/debian/control"
SHLIBS=$(cd "$WORK/shlibs" && dpkg-shlibdeps -O "${EXECUTABLES[@]/#/$ROOT/usr/bin/}" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')
[ -n "$SHLIBS" ] || { echo "build-deb.sh: dpkg-shlibdeps found no libraries" >&2; exit 1; }
DEPENDS="adduser, init-system-helpers (>= 1.54~), $SHLIBS"

(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
    > "$ROOT/DEBIAN/md5sums"
INSTALLED_SIZE=$(du -k -s --exclude=DEBIAN "$ROOT" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@DEPENDS@/$DEPENDS/" \
    -e "s/@INSTALLED_SIZE@/$INSTALLED_SIZE/" packaging/debian/control.in > "$ROOT/DEBIAN/control"
chmod 0644 "$ROOT/DEBIAN/control" "$ROOT/DEBIAN/conffiles" "$ROOT/DEBIAN/md5sums"

find "$ROOT" -exec touch --no-dereference -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$OUTPUT"
DEB="$OUTPUT/egress25_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >&2
echo "build-deb.sh: $(du -h "$DEB" | cut -f1) $DEB (installed: $INSTALLED_SIZE KiB)" >&2
echo "$DEB"
