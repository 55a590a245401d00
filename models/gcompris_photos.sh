#!/usr/bin/env bash
# Photographs from elsewhere, for testing a photo model only (never for choosing settings):
# the photos among the pictures of Debian's educational game GCompris (`gcompris-qt-data`
# 3.1-2, not one of the packages the bundled photos or the hidden set come from). Downloads
# the package, takes the WebP pictures out of its Qt resource files (.rcc), keeps the 195
# photographs listed below (animals, monuments, tools, underwater scenes, musicians; drawings,
# paintings, planets and pictures under 240 px left out) and writes each as a PNG into OUT,
# ready for models/score_photos.sh:
#
#   models/gcompris_photos.sh /tmp/gcompris && WORK=/tmp/gc models/score_photos.sh /tmp/gcompris
#
# Two pictures that appear in two activities are kept once (the Brandenburg Gate, one photo in
# `categorization` and `explore_monuments`; Neuschwanstein, one photo in `details` and, cropped
# differently, in `explore_monuments`). Needs apt-get, dpkg-deb, python3 and Pillow with WebP.
set -euo pipefail

OUT=${1:?usage: models/gcompris_photos.sh OUT_DIR}
DEB_SHA256=e9cf06ab2105529068df73085784e835d2ff03f870d2a8091f09125d40abac9f
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

(cd "$TMP" && apt-get download -q gcompris-qt-data=3.1-2 >/dev/null 2>&1) || {
  echo "apt-get download gcompris-qt-data=3.1-2 failed (Debian 12 package lists needed: apt-get update)" >&2
  exit 1
}
echo "$DEB_SHA256  $(ls "$TMP"/gcompris-qt-data_3.1-2_all.deb)" | sha256sum -c --quiet
dpkg-deb -x "$TMP"/gcompris-qt-data_3.1-2_all.deb "$TMP/pkg"
mkdir -p "$OUT"
python3 - "$TMP/pkg/usr/share/gcompris-qt/rcc" "$OUT" <<'PY'
import io, os, struct, sys
from PIL import Image

rcc, out = sys.argv[1], sys.argv[2]
# activity -> ordinals (among its WebP pictures of at least 240 px a side, in file order) left out
ACTIVITIES = {
    "categorization": set(),
    "clickgame": set(),
    "details": {2, 4, 7, 8, 10, 12, 15, 19},  # paintings
    "erase": set(),
    "explore_farm_animals": set(),
    "explore_monuments": {42, 46},  # Neuschwanstein and the Brandenburg Gate, kept elsewhere
    "explore_world_animals": set(),
    "explore_world_music": set(),
}
kept = 0
for activity, left_out in ACTIVITIES.items():
    data = open(os.path.join(rcc, activity + ".rcc"), "rb").read()
    ordinal, at = 0, 0
    while (at := data.find(b"RIFF", at)) >= 0:
        if data[at + 8:at + 12] == b"WEBP":
            size = struct.unpack("<I", data[at + 4:at + 8])[0]
            img = Image.open(io.BytesIO(data[at:at + 8 + size]))
            img.load()
            if min(img.size) >= 240:
                if ordinal not in left_out:
                    img.convert("RGB").save(os.path.join(out, f"{activity}_{ordinal:03d}.png"))
                    kept += 1
                ordinal += 1
        at += 4
print(f"{kept} photographs in {out}", file=sys.stderr)
if kept != 195:
    sys.exit(f"expected 195 photographs, found {kept}: the package is not the one listed")
PY
