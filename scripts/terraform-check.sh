#!/usr/bin/env bash
# Offline checks of the Terraform module: formatting, init + validate of the module, of every
# submodule and of every example, the terraform test suite (mock provider, plan only) and checkov.
# Uses a filesystem mirror of hashicorp/aws when the machine has one, the registry otherwise.
# --quick leaves out the terraform test suite (the pre-commit hook).
set -euo pipefail
quick=false
case "${1:-}" in
  --quick) quick=true ;;
  "") ;;
  *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
root="$PWD"

CHECKOV_VERSION="3.3.30"
PYTHON="${PYTHON:-python3}"

step() { printf '\n==> %s\n' "$*"; }

command -v terraform >/dev/null || { echo "terraform is not on PATH; install Terraform >= 1.11" >&2; exit 1; }

# A CLI config of our own, so that a missing or unrelated ~/.terraformrc cannot interfere.
step "Locating a filesystem mirror of hashicorp/aws"
platform="$(terraform version -json | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["platform"])')"
mirror=""
while IFS= read -r dir; do
  if compgen -G "$dir/*/$platform" >/dev/null; then
    mirror="${dir%/registry.terraform.io/hashicorp/aws}"
    break
  fi
done < <(find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -name .terraform -o -name .git -o -name 'node_modules' \) -prune \
  -o -type d -path '*/registry.terraform.io/hashicorp/aws' -print 2>/dev/null | sort)

mkdir -p .tfcli
export TF_CLI_CONFIG_FILE="$root/.tfcli/terraformrc"
if [[ -n "$mirror" ]]; then
  echo "using the mirror at $mirror"
  cat >"$TF_CLI_CONFIG_FILE" <<CONFIG
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
CONFIG
else
  echo "no mirror found: providers come from the registry"
  : >"$TF_CLI_CONFIG_FILE"
fi
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1

step "terraform fmt -check -recursive"
terraform fmt -check -recursive -diff

# The root module first: its init also installs the submodules and examples the tests plan.
for dir in . modules/*/ examples/*/; do
  dir="${dir%/}"
  step "terraform init + validate: $dir"
  terraform -chdir="$dir" init -backend=false -input=false -no-color >/dev/null
  terraform -chdir="$dir" validate -no-color
done

if [[ "$quick" == false ]]; then
  step "terraform test"
  terraform test -no-color
fi

step "checkov $CHECKOV_VERSION"
venv="$root/.venv-checkov"
if [[ ! -f "$venv/.installed-$CHECKOV_VERSION" ]]; then
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  # pip's log is shown only when the install fails.
  if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >"$venv/pip.log" 2>&1; then
    cat "$venv/pip.log" >&2
    exit 1
  fi
  touch "$venv/.installed-$CHECKOV_VERSION"
fi
# tests/upgrade/ holds only the state a test starts from, never deployed.
"$venv/bin/checkov" -d . --framework terraform --skip-download --quiet --compact \
  --skip-path '\.venv' --skip-path '\.terraform' --skip-path 'local/' --skip-path 'bench/' --skip-path 'tests/upgrade/'

step "terraform checks passed"
