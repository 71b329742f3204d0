#!/usr/bin/env bash
# Fetch the web COP's third-party files from the npm registry at pinned versions and convert the
# Natural Earth basemap to GeoJSON. The output is committed under src/concord/web/vendor/, so the
# COP never loads anything from another origin. Re-run to reproduce it byte for byte.
#
#   scripts/vendor-web.sh            # needs node and npm
set -euo pipefail

LEAFLET_VERSION=1.9.4
WORLD_ATLAS_VERSION=2.0.2
TOPOJSON_CLIENT_VERSION=3.1.0

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/src/concord/web/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
for spec in "leaflet@$LEAFLET_VERSION" "world-atlas@$WORLD_ATLAS_VERSION" "topojson-client@$TOPOJSON_CLIENT_VERSION"; do
  tarball="$(npm pack --silent "$spec")"
  name="${spec%@*}"
  mkdir -p "$name"
  tar -xzf "$tarball" -C "$name" --strip-components=1
  # Record the SHA-256 of each tarball fetched, so a re-run can be compared.
  printf '%s %s\n' "$spec" "$(sha256sum "$tarball" | cut -d' ' -f1)" >> checksums.txt
done

rm -rf "$out"
mkdir -p "$out/leaflet/images" "$out/basemap"

cp leaflet/dist/leaflet.js leaflet/dist/leaflet.css "$out/leaflet/"
cp leaflet/dist/images/*.png "$out/leaflet/images/"
cp leaflet/LICENSE "$out/leaflet/LICENSE"

cp world-atlas/LICENSE "$out/basemap/LICENSE.world-atlas"
cp topojson-client/LICENSE "$out/basemap/LICENSE.topojson-client"

# TopoJSON -> GeoJSON with topojson-client (used at vendoring time only; not shipped to the browser).
# Countries as polygons (land and borders), coordinates rounded to 1e-3 degree (about 100 m),
# well under the 1:50m source's own accuracy, to keep the file small.
node - "$work" "$out/basemap" <<'JS'
const path = require("path");
const fs = require("fs");
const [work, dest] = process.argv.slice(2);
const topojson = require(path.join(work, "topojson-client"));
const round = (v) => Math.round(v * 1000) / 1000;
function roundCoords(c) {
  return typeof c[0] === "number" ? [round(c[0]), round(c[1])] : c.map(roundCoords);
}
function write(name, fc) {
  for (const f of fc.features) {
    if (f.geometry) f.geometry.coordinates = roundCoords(f.geometry.coordinates);
  }
  fs.writeFileSync(path.join(dest, name), JSON.stringify(fc));
}
const world = JSON.parse(fs.readFileSync(path.join(work, "world-atlas", "countries-50m.json"), "utf8"));
const countries = topojson.feature(world, world.objects.countries);
countries.features = countries.features.map((f) => ({
  type: "Feature",
  properties: { name: f.properties.name },
  geometry: f.geometry,
}));
write("countries-50m.geojson", countries);
JS

{
  echo "Vendored by scripts/vendor-web.sh from the npm registry:"
  cat checksums.txt
  echo
  echo "leaflet/            Leaflet $LEAFLET_VERSION (BSD-2-Clause, leaflet/LICENSE)"
  echo "basemap/countries-50m.geojson  Natural Earth 1:50m countries (public domain), from"
  echo "                    world-atlas $WORLD_ATLAS_VERSION (ISC, basemap/LICENSE.world-atlas),"
  echo "                    converted with topojson-client $TOPOJSON_CLIENT_VERSION (ISC,"
  echo "                    basemap/LICENSE.topojson-client)."
} > "$out/VERSIONS.txt"
echo "vendored into $out"
