#!/usr/bin/env bash
# Installs kubernetes-validate (PyPI; it ships the Kubernetes JSON schemas, so it validates offline) into
# the virtualenv <repo>/.tools/venv, for the chart tests. Versions pinned in
# scripts/kubernetes-validate-requirements.txt; does nothing when that file has not changed since.
#   bash scripts/install-kubernetes-validate.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.tools/venv"
requirements="$root/scripts/kubernetes-validate-requirements.txt"
stamp="$venv/.cascade-requirements"

if [[ -x "$venv/bin/kubernetes-validate" && -f "$stamp" ]] && cmp -s "$requirements" "$stamp"; then
  echo "kubernetes-validate $("$venv/bin/kubernetes-validate" --version) already in $venv"
  exit 0
fi

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "install-kubernetes-validate: needs python3 with venv (Debian: apt-get install python3-venv)" >&2
  exit 1
fi

echo "install-kubernetes-validate: python3 -m venv $venv && pip install -r $(basename "$requirements")"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
"$venv/bin/kubernetes-validate" --version >/dev/null
cp "$requirements" "$stamp"
echo "kubernetes-validate $("$venv/bin/kubernetes-validate" --version) in $venv"
