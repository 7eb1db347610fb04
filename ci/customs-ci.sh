#!/usr/bin/env bash
# customs in a CI job (the GitHub Action and the GitLab template run this):
# installs customs from this source tree when it is not on PATH, evaluates
# the inputs, prints the text report to the job log and writes the report
# file, then exits as `customs eval` does: 0 allowed, 1 denied, 2 error.
#
#   CUSTOMS_INPUTS   what to evaluate, space-separated: reports, SBOMs,
#                    oci-layout:DIR, docker-archive:FILE, oci://REF (required)
#   CUSTOMS_BUNDLE   a bundle (directory, archive, oci://); default: the baseline
#   CUSTOMS_REQUIRE  facts the image is denied without (default: vulnerabilities,config)
#   CUSTOMS_FORMAT   report file format: sarif (default) or junit
#   CUSTOMS_REPORT   report file (default: customs.sarif, or customs-junit.xml)
#   CUSTOMS_ARGS     more `customs eval` flags, e.g. "--trusted-key cosign.pub"
#
# An oci:// input is read from its registry once per run of customs: twice here.
set -uo pipefail

: "${CUSTOMS_INPUTS:?set CUSTOMS_INPUTS to the reports or image to evaluate}"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if ! command -v customs >/dev/null 2>&1; then
  install_root="${CUSTOMS_INSTALL_ROOT:-$HOME/.local}"
  echo "customs is not on PATH: installing it from $root into $install_root" >&2
  cargo install --locked --quiet --path "$root/cli" --root "$install_root" || exit 2
  export PATH="$install_root/bin:$PATH"
fi

format="${CUSTOMS_FORMAT:-sarif}"
case "$format" in
  sarif) report="${CUSTOMS_REPORT:-customs.sarif}" ;;
  junit) report="${CUSTOMS_REPORT:-customs-junit.xml}" ;;
  *) echo "CUSTOMS_FORMAT must be sarif or junit, not $format" >&2; exit 2 ;;
esac

read -ra inputs <<< "$CUSTOMS_INPUTS"
read -ra extra <<< "${CUSTOMS_ARGS:-}"
args=(eval --require "${CUSTOMS_REQUIRE:-vulnerabilities,config}")
if [ -n "${CUSTOMS_BUNDLE:-}" ]; then
  args+=(--bundle "$CUSTOMS_BUNDLE")
fi

# ${a[@]+"${a[@]}"}: an empty array under set -u on bash before 4.4 (macOS).
customs "${args[@]}" ${extra[@]+"${extra[@]}"} --format "$format" "${inputs[@]}" > "$report"
code=$?
if [ "$code" -ge 2 ]; then
  # No decision, no report: nothing for the CI system to upload.
  rm -f "$report"
  exit "$code"
fi
# The text report for the log; the decision is the report file's run's.
customs "${args[@]}" ${extra[@]+"${extra[@]}"} "${inputs[@]}" || true
echo "customs: exit $code, report written to $report" >&2
exit "$code"
