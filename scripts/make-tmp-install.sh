#!/usr/bin/env bash
# Builds a private, relocated PostgreSQL 15 tree at $1/usr for the tests.
#
# PostgreSQL finds its share and lib directories relative to the postgres
# binary when the binary is not where it was configured to be (see
# make_relative_path in src/port/path.c), the mechanism behind its own
# `make check` temp install. So: hard links (copies across file systems) to
# the system binaries, symlinks to every system library and share file,
# except pymigrate's own, which `make install DESTDIR=$1` then adds. The
# system installation is never written to.
set -euo pipefail
dest="$1/usr"
bindir=$(/usr/lib/postgresql/15/bin/pg_config --bindir)
pkglibdir=$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)
sharedir=$(/usr/lib/postgresql/15/bin/pg_config --sharedir)

rm -rf "$1"
mkdir -p "$dest${bindir#/usr}" "$dest${pkglibdir#/usr}" "$dest${sharedir#/usr}/extension"
for f in "$bindir"/*; do
    ln "$f" "$dest${bindir#/usr}/" 2>/dev/null || cp -p "$f" "$dest${bindir#/usr}/"
done
for f in "$pkglibdir"/*; do
    case "$(basename "$f")" in pymigrate*) continue ;; esac
    ln -s "$f" "$dest${pkglibdir#/usr}/"
done
for f in "$sharedir"/*; do
    [[ "$(basename "$f")" == extension ]] || ln -s "$f" "$dest${sharedir#/usr}/"
done
for f in "$sharedir"/extension/*; do
    case "$(basename "$f")" in pymigrate*) continue ;; esac
    ln -s "$f" "$dest${sharedir#/usr}/extension/"
done
# The postgres user that runs the servers must be able to enter the tree.
find "$1" -type d -exec chmod a+rx {} +
