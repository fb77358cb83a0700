#!/usr/bin/env bash
# Coverage ledger of the core C API: which functions of scripts/core-api.txt
# (the core functions of nats.c's public header) the debug build of libnats.so
# exports. Writes COVERAGE.md at the repository root.
#
#   bash scripts/coverage.sh           # build if needed, rewrite COVERAGE.md
#   bash scripts/coverage.sh --check   # build if needed, fail if COVERAGE.md is stale
#
# Each function of the list is
#   implemented  exported by libnats.so (nm -D --defined-only, type T)
#   owed         not exported, tagged owed:#N (another issue owns it)
#   missing      not exported and not tagged: the ledger counts every untagged
#                function as implemented, so this is a regression (or a
#                function still to write)
#
# Variables: CARGO_TARGET_DIR (default: target; relative paths are taken from
# the repository root). The library read is $CARGO_TARGET_DIR/debug/libnats.so.
#
# Exit status: 0 when nothing is missing (and, with --check, COVERAGE.md is up
# to date); 1 when a function is missing or COVERAGE.md is stale; 2 on a usage
# error, a malformed list or a failed build.
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIST="$ROOT/scripts/core-api.txt"
LEDGER="$ROOT/COVERAGE.md"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
LIB="$TARGET_DIR/debug/libnats.so"

die() { echo "coverage: $*" >&2; exit 2; }

CHECK=0
case "${1:-}" in
  "") ;;
  --check) CHECK=1 ;;
  -h | --help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (usage: bash scripts/coverage.sh [--check])" ;;
esac
[ $# -le 1 ] || die "too many arguments (usage: bash scripts/coverage.sh [--check])"
[ -f "$LIST" ] || die "$LIST not found"
command -v nm >/dev/null || die "nm not found (install binutils)"

# --- build (cargo does nothing when the library is up to date) ---------------
(cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --lib -j 2) >&2 ||
  die "cargo build --lib failed"
[ -f "$LIB" ] || die "$LIB not found after cargo build --lib"

# --- exported functions --------------------------------------------------------
declare -A EXPORTED=()
while read -r sym; do
  EXPORTED["$sym"]=1
done < <(nm -D --defined-only "$LIB" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort -u)
[ "${#EXPORTED[@]}" -gt 0 ] || die "no exported functions found in $LIB"

# --- read the list ---------------------------------------------------------------
AREA_ORDER=(library statistics options inbox connection subscription message header)
declare -A AREA_OK=() AREA_OF=() TAG_OF=() IN_LIST=()
for a in "${AREA_ORDER[@]}"; do AREA_OK["$a"]=1; done
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  case "$line" in '#'* | '') continue ;; esac
  read -r area name tag extra <<<"$line" || true
  where="scripts/core-api.txt:$lineno"
  [ -n "${name:-}" ] || die "$where: expected '<area> <name> [owed:#N]'"
  [ -z "${extra:-}" ] || die "$where: too many fields"
  [ -n "${AREA_OK[$area]:-}" ] || die "$where: unknown area '$area' (one of: ${AREA_ORDER[*]})"
  [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "$where: bad function name '$name'"
  [ -z "${tag:-}" ] || [[ "$tag" =~ ^owed:#[0-9]+$ ]] || die "$where: bad tag '$tag' (expected owed:#N)"
  [ -z "${IN_LIST[$name]:-}" ] || die "$where: $name listed twice"
  IN_LIST["$name"]=1
  AREA_OF["$name"]="$area"
  TAG_OF["$name"]="${tag#owed:}"
done <"$LIST"
[ "${#IN_LIST[@]}" -gt 0 ] || die "$LIST lists no function"

# --- classify -------------------------------------------------------------------
declare -A STATUS_OF=() N_IMPL=() N_OWED=() N_MISS=() N_ALL=()
for a in "${AREA_ORDER[@]}"; do N_IMPL["$a"]=0; N_OWED["$a"]=0; N_MISS["$a"]=0; N_ALL["$a"]=0; done
impl=0 owed=0 miss=0
MISSING=() STALE=()
while read -r name; do
  area="${AREA_OF[$name]}"
  N_ALL["$area"]=$((N_ALL[$area] + 1))
  if [ -n "${EXPORTED[$name]:-}" ]; then
    STATUS_OF["$name"]=implemented
    impl=$((impl + 1)); N_IMPL["$area"]=$((N_IMPL[$area] + 1))
    [ -z "${TAG_OF[$name]}" ] || STALE+=("$name")
  elif [ -n "${TAG_OF[$name]}" ]; then
    STATUS_OF["$name"]=owed
    owed=$((owed + 1)); N_OWED["$area"]=$((N_OWED[$area] + 1))
  else
    STATUS_OF["$name"]=missing
    miss=$((miss + 1)); N_MISS["$area"]=$((N_MISS[$area] + 1))
    MISSING+=("$name")
  fi
done < <(printf '%s\n' "${!IN_LIST[@]}" | sort)
total="${#IN_LIST[@]}"
TOTALS="$impl implemented, $owed owed, $miss missing, out of $total core functions"

# Exported nats* functions that are not in the core list.
EXTRA=()
while read -r sym; do
  [ -n "$sym" ] && EXTRA+=("$sym")
done < <(printf '%s\n' "${!EXPORTED[@]}" | grep '^nats' | sort | while read -r s; do
  [ -n "${IN_LIST[$s]:-}" ] || echo "$s"
done)

# --- write the ledger -----------------------------------------------------------
generate() {
  echo "# Core C API coverage"
  echo
  echo "Which functions of the core C API of nats.c 3.14 (library, statistics, options,"
  echo "inbox, connection, subscription, messages and headers) \`libnats.so\` exports."
  echo "The list of functions is \`scripts/core-api.txt\` (names from nats.c's public"
  echo "header); the exports are read from the debug build with \`nm -D --defined-only\`."
  echo
  echo "Generated file, do not edit. Regenerate with \`bash scripts/coverage.sh\`;"
  echo "\`bash scripts/coverage.sh --check\` fails when this file is stale."
  echo
  echo "- **implemented**: exported by the library."
  echo "- **owed**: not exported yet; another issue owns it (tag \`owed:#N\` in the list)."
  echo "- **missing**: not exported and owned by no other issue (the script fails)."
  echo
  echo "**Totals: $TOTALS.**"
  echo
  echo "| Area | Implemented | Owed | Missing | Total |"
  echo "|---|---:|---:|---:|---:|"
  for a in "${AREA_ORDER[@]}"; do
    [ "${N_ALL[$a]}" -gt 0 ] || continue
    echo "| $a | ${N_IMPL[$a]} | ${N_OWED[$a]} | ${N_MISS[$a]} | ${N_ALL[$a]} |"
  done
  for a in "${AREA_ORDER[@]}"; do
    [ "${N_ALL[$a]}" -gt 0 ] || continue
    echo
    echo "## $a"
    echo
    echo "| Function | Status | Owner issue |"
    echo "|---|---|---|"
    printf '%s\n' "${!AREA_OF[@]}" | sort | while read -r name; do
      [ "${AREA_OF[$name]}" = "$a" ] || continue
      owner="${TAG_OF[$name]}"
      if [ -n "$owner" ] && [ "${STATUS_OF[$name]}" = implemented ]; then
        owner="$owner (stale tag)"
      fi
      echo "| \`$name\` | ${STATUS_OF[$name]} | ${owner:--} |"
    done
  done
  echo
  echo "## Stale owed tags"
  echo
  if [ "${#STALE[@]}" -eq 0 ]; then
    echo "None."
  else
    echo "Exported, so counted as implemented, but still tagged \`owed:#N\` in"
    echo "\`scripts/core-api.txt\`: the tag is stale, remove it."
    echo
    for name in "${STALE[@]}"; do echo "- \`$name\` (owed:${TAG_OF[$name]})"; done
  fi
  echo
  echo "## Exported functions outside the core list"
  echo
  if [ "${#EXTRA[@]}" -eq 0 ]; then
    echo "None."
  else
    echo "Exported \`nats*\` functions that are not in \`scripts/core-api.txt\`: our"
    echo "extensions, and functions of other areas or newer versions of nats.c."
    echo "${#EXTRA[@]} functions."
    echo
    for name in "${EXTRA[@]}"; do echo "- \`$name\`"; done
  fi
}

TMP="$(mktemp)"
trap 'rm -f "$TMP"' EXIT
generate >"$TMP"

status=0
echo "coverage: $TOTALS"
if [ "$CHECK" = 1 ]; then
  if [ ! -f "$LEDGER" ]; then
    echo "coverage: COVERAGE.md does not exist: run bash scripts/coverage.sh and commit it" >&2
    status=1
  elif ! diff -u --label COVERAGE.md --label 'COVERAGE.md (generated)' "$LEDGER" "$TMP" >&2; then
    echo "coverage: COVERAGE.md is stale (diff above): run bash scripts/coverage.sh and commit it" >&2
    status=1
  else
    echo "coverage: COVERAGE.md is up to date"
  fi
else
  cp "$TMP" "$LEDGER"
  echo "coverage: wrote COVERAGE.md"
fi

if [ "${#STALE[@]}" -gt 0 ]; then
  echo "coverage: warning: ${#STALE[@]} function(s) exported but still tagged owed in scripts/core-api.txt (stale tag, remove it):" >&2
  for name in "${STALE[@]}"; do echo "  ${AREA_OF[$name]} $name owed:${TAG_OF[$name]}" >&2; done
fi
if [ "$miss" -gt 0 ]; then
  {
    echo "coverage: FAIL: ${miss} core function(s) not exported by ${LIB#"$ROOT"/} and not tagged owed:#N:"
    for a in "${AREA_ORDER[@]}"; do
      for name in "${MISSING[@]}"; do
        [ "${AREA_OF[$name]}" != "$a" ] || echo "  $a $name"
      done
    done
    echo "coverage: the ledger counts every untagged function as implemented. Implement (export) them,"
    echo "coverage: or, if another issue owns them, add owed:#N to their line in scripts/core-api.txt."
  } >&2
  status=1
fi
exit "$status"
