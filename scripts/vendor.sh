#!/usr/bin/env bash
# Refresh the vendored browser libraries from the npm registry (no CDN at run
# time, no build step). Pinned versions; bump them here and rerun.
#   uPlot          console live charts         app/http/static/vendor/uplot/
#   swagger-ui     /docs                       app/http/static/vendor/swagger-ui/
#   axe-core       accessibility checks (tests only)  tests/vendor/axe-core/
set -euo pipefail
cd "$(dirname "$0")/.."
UPLOT=1.6.32 SWAGGER=5.35.0 AXE=4.14.1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fetch() {  # fetch <package> <version>: unpack into $tmp/<package>
  (cd "$tmp" && npm pack --silent "$1@$2" >/dev/null && mkdir -p "$1" && tar xzf "$1"-*.tgz -C "$1")
}
fetch uplot "$UPLOT"
fetch swagger-ui-dist "$SWAGGER"
fetch axe-core "$AXE"
static=app/http/static/vendor
mkdir -p "$static/uplot" "$static/swagger-ui" tests/vendor/axe-core
cp "$tmp/uplot/package/dist/uPlot.iife.min.js" "$tmp/uplot/package/dist/uPlot.min.css" \
   "$tmp/uplot/package/LICENSE" "$static/uplot/"
cp "$tmp/swagger-ui-dist/package/"{swagger-ui-bundle.js,swagger-ui.css,LICENSE,NOTICE} "$static/swagger-ui/"
# The bundle names a source map we do not ship; drop the comment so browsers do not ask for it.
sed -i '/^\/\/# sourceMappingURL=/d' "$static/swagger-ui/swagger-ui-bundle.js" "$static/swagger-ui/swagger-ui.css"
cp "$tmp/axe-core/package/"{axe.min.js,LICENSE} tests/vendor/axe-core/
printf 'uplot %s\nswagger-ui-dist %s\n' "$UPLOT" "$SWAGGER" > "$static/VERSIONS"
printf 'axe-core %s\n' "$AXE" > tests/vendor/VERSIONS
echo "vendored: uplot $UPLOT, swagger-ui-dist $SWAGGER, axe-core $AXE"
