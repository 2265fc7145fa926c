#!/usr/bin/env bash
# Regenerates the PDF and DOCX articles of the sample knowledge base
# (kb-loader/sample-kb/) from their HTML sources in scripts/sample-kb/sources/.
#
# The sample KB exercises the loader's PDF and DOCX extractors, so a few
# articles are shipped in those formats. Their content lives in
# sources/<topic>/<slug>.html; this script converts each source with
# LibreOffice (headless) into kb-loader/sample-kb/<topic>/<slug>.<pdf|docx>.
# The generated files are committed; run this only after editing a source.
#
# Idempotent: each run overwrites the outputs listed in ARTICLES below and
# touches nothing else. (Outputs are not byte-for-byte reproducible: LibreOffice
# embeds creation timestamps, so regenerate only when a source changes.)
#
# Requires: libreoffice (Debian: apt-get install -y --no-install-recommends
# libreoffice-writer). Optional checks use pdftotext (poppler-utils) and unzip.
#
# Usage: scripts/sample-kb/build.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SRC="$HERE/sources"
OUT="$REPO/kb-loader/sample-kb"

# <topic>/<slug> <format>   (format: pdf or docx)
ARTICLES=(
  "billing/invoices-and-receipts pdf"
  "returns/exchanges pdf"
  "troubleshooting/firmware-updates pdf"
  "shipping/changing-delivery-address docx"
  "account/suspicious-activity docx"
  "policies/terms-of-service docx"
)

LO="$(command -v libreoffice || command -v soffice || true)"
if [[ -z "$LO" ]]; then
  echo "error: libreoffice not found (apt-get install -y --no-install-recommends libreoffice-writer)" >&2
  exit 1
fi

# Private LibreOffice profile so the run doesn't depend on (or clash with)
# a user profile or an already-running instance.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
PROFILE="file://$WORK/profile"

for entry in "${ARTICLES[@]}"; do
  read -r path fmt <<<"$entry"
  src="$SRC/$path.html"
  dest_dir="$OUT/$(dirname "$path")"
  slug="$(basename "$path")"
  [[ -f "$src" ]] || { echo "error: missing source $src" >&2; exit 1; }
  mkdir -p "$dest_dir"
  case "$fmt" in
    # writer_pdf_Export: import HTML into Writer (not Writer/Web) so the PDF
    # has proper page layout and a text layer.
    pdf)  filter='pdf:writer_pdf_Export' ;;
    docx) filter='docx:MS Word 2007 XML' ;;
    *) echo "error: unknown format $fmt for $path" >&2; exit 1 ;;
  esac
  tmp_out="$WORK/out"
  rm -rf "$tmp_out"; mkdir -p "$tmp_out"
  # LibreOffice prints harmless noise (e.g. "failed to launch javaldx") on
  # stderr; only show it if the conversion fails.
  if ! "$LO" -env:UserInstallation="$PROFILE" --headless --infilter="HTML (StarWriter)" \
      --convert-to "$filter" --outdir "$tmp_out" "$src" >"$WORK/lo.log" 2>&1; then
    cat "$WORK/lo.log" >&2; echo "error: libreoffice failed on $src" >&2; exit 1
  fi
  produced="$tmp_out/$slug.$fmt"
  [[ -s "$produced" ]] || { echo "error: conversion produced nothing for $src" >&2; exit 1; }
  mv -f "$produced" "$dest_dir/$slug.$fmt"
  echo "built $(realpath --relative-to="$REPO" "$dest_dir/$slug.$fmt")"
done

# Sanity checks (skipped if the tools are missing).
for entry in "${ARTICLES[@]}"; do
  read -r path fmt <<<"$entry"
  f="$OUT/$path.$fmt"
  if [[ "$fmt" == pdf ]] && command -v pdftotext >/dev/null; then
    words=$(pdftotext "$f" - | wc -w)
    [[ "$words" -gt 100 ]] || { echo "error: $f has no usable text layer ($words words)" >&2; exit 1; }
  fi
  if [[ "$fmt" == docx ]] && command -v unzip >/dev/null; then
    unzip -tq "$f" >/dev/null || { echo "error: $f is not a valid zip" >&2; exit 1; }
    listing="$(unzip -Z1 "$f")"
    grep -qx 'word/document.xml' <<<"$listing" || { echo "error: $f lacks word/document.xml" >&2; exit 1; }
  fi
done
echo "ok: ${#ARTICLES[@]} files generated"
