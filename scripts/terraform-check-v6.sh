#!/usr/bin/env bash
# The module, its submodules and every example against hashicorp/aws v6, offline: init + validate
# of each and the whole terraform test suite, with a test-only provider that serves the v6 schema
# (tools/aws_v6_provider: generated from cdktn-provider-aws, which no download is needed for).
# Works on a copy of the repository, so that the v5 lock files and .terraform directories stay as
# they are; version constraints are not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

PYTHON="${PYTHON:-python3}"

step() { printf '\n==> %s\n' "$*"; }

command -v terraform >/dev/null || { echo "terraform is not on PATH; install Terraform >= 1.11" >&2; exit 1; }

step "Installing the v6 schema provider (tools/aws_v6_provider)"
mkdir -p .tfcli
export TF_CLI_CONFIG_FILE="$root/.tfcli/terraformrc-v6"
"$PYTHON" tools/aws_v6_provider/install.py --check-types \
  --mirror "$root/.tfcli/aws-v6-mirror" --cli-config "$TF_CLI_CONFIG_FILE"
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -C "$root" \
  --exclude=./.git --exclude='./.venv*' --exclude=./.tfcli --exclude=.terraform --exclude=.terraform.lock.hcl \
  --exclude='terraform.tfstate*' --exclude=./.mypy_cache --exclude=./.ruff_cache --exclude=./.pytest_cache \
  --exclude=__pycache__ --exclude=./demo-output --exclude=./dist --exclude=./build --exclude=node_modules \
  -cf - . | tar -C "$work" -xf -
echo "working on a copy in $work"

dirs=(.)
for dir in "$work"/modules/*/ "$work"/examples/*/; do
  [[ -d "$dir" ]] && dirs+=("${dir#"$work"/}")
done
for dir in "${dirs[@]}"; do
  dir="${dir%/}"
  step "terraform init + validate against aws v6: $dir"
  terraform -chdir="$work/$dir" init -backend=false -input=false -no-color >/dev/null
  grep -q 'version *= "6\.' "$work/$dir/.terraform.lock.hcl" \
    || { echo "$dir did not select hashicorp/aws v6:" >&2; cat "$work/$dir/.terraform.lock.hcl" >&2; exit 1; }
  terraform -chdir="$work/$dir" validate -no-color
done

step "terraform test against aws v6"
terraform -chdir="$work" test -no-color

step "aws v6 checks passed"
