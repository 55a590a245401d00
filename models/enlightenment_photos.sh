#!/usr/bin/env bash
# Photographs from elsewhere, for testing a photo model only (never for choosing settings):
# the 14 photos among the desktop backgrounds of Debian's `enlightenment-data` 0.25.4-2 (not
# one of the packages the bundled photos or the hidden set come from). Downloads the package,
# takes each background's largest image out of its Edje file with `edje_decc` (Debian's
# `libedje-bin`), keeps the photographs (the drawn Dunes, Flat-Fan, Sunset-Hills, Paper-Flower,
# the squiggles and the stone pattern left out) and writes each as a PNG into OUT, ready for
# models/score_photos.sh:
#
#   models/enlightenment_photos.sh /tmp/enl && WORK=/tmp/enlw models/score_photos.sh /tmp/enl
#
# Needs apt-get, dpkg-deb and edje_decc (apt-get install libedje-bin); about 8 minutes on 2
# cores, most of it edje_decc.
set -euo pipefail

OUT=${1:?usage: models/enlightenment_photos.sh OUT_DIR}
DEB_SHA256=205df83b80b3a999757b07d7ad1908332c96c6edae559548346bc8af4f292bef
PHOTOS=(Bamboo Foggy-Trees God-Rays Green-Maple Lichen-Branches Mountain Peaks Red-Maple
  Sea-of-Lanterns Snow-Trees Spruce-Needles Sunset-Clouds White-Flower Yellow-Flower)
command -v edje_decc >/dev/null || {
  echo "edje_decc not found: it comes with Debian's libedje-bin (apt-get install libedje-bin)" >&2
  exit 1
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

(cd "$TMP" && apt-get download -q enlightenment-data=0.25.4-2 >/dev/null 2>&1) || {
  echo "apt-get download enlightenment-data=0.25.4-2 failed (Debian 12 package lists needed: apt-get update)" >&2
  exit 1
}
echo "$DEB_SHA256  $(ls "$TMP"/enlightenment-data_0.25.4-2_all.deb)" | sha256sum -c --quiet
dpkg-deb -x "$TMP"/enlightenment-data_0.25.4-2_all.deb "$TMP/pkg"
mkdir -p "$OUT"
for name in "${PHOTOS[@]}"; do
  # edje_decc's output is noise when it works and the only reason given when it fails.
  if ! edje_decc "$TMP/pkg/usr/share/enlightenment/data/backgrounds/$name.edj" -o "$TMP/dec/$name" \
    >"$TMP/edje_decc.log" 2>&1; then
    echo "edje_decc failed on $name.edj of enlightenment-data 0.25.4-2; its last output:" >&2
    tail -n 20 "$TMP/edje_decc.log" >&2
    exit 1
  fi
  largest=$(find "$TMP/dec/$name" -type f -iname '*.png' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
  [ -n "$largest" ] || { echo "no image in $name.edj" >&2; exit 1; }
  cp "$largest" "$OUT/$name.png"
done
echo "${#PHOTOS[@]} photographs in $OUT" >&2
