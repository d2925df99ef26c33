# The deployment package: built from lambda/ during apply, or a prebuilt one (lambda_package_path).

locals {
  lambda_python_version = trimprefix(var.lambda_runtime, "python")

  # The package is built during apply, so its hash is not known at plan. source_code_hash is instead
  # a digest of everything the build reads; since hashicorp/aws 5.51 it is a plain trigger that the
  # provider never overwrites with the deployed CodeSha256 (also in v6), so there is no perpetual diff.
  lambda_source_files = sort([
    for f in fileset("${path.module}/lambda/src", "cwotlp/**") : f
    if !strcontains(f, "__pycache__") && !endswith(f, ".pyc")
  ])
  lambda_build_digest = sha256(join("\n", concat(
    [for f in local.lambda_source_files : "${f}:${filesha256("${path.module}/lambda/src/${f}")}"],
    [
      "requirements.txt:${filesha256("${path.module}/lambda/requirements.txt")}",
      "build.py:${filesha256("${path.module}/lambda/build.py")}",
      "arch:${var.lambda_architecture}",
      "runtime:${var.lambda_runtime}",
    ],
  )))

  build_package = var.lambda_package_path == null
  # The build digest in the file name makes a changed package a changed filename as well.
  built_package_name  = "cwotlp-${var.lambda_architecture}-${local.lambda_python_version}-${substr(local.lambda_build_digest, 0, 16)}.zip"
  lambda_package_path = local.build_package ? "${path.module}/build/${local.built_package_name}" : var.lambda_package_path
  lambda_source_code_hash = (
    local.build_package ? base64encode(local.lambda_build_digest) : filebase64sha256(var.lambda_package_path)
  )
}

# Builds the deployment package during apply (plan needs no build tools), again whenever an input of the build changes.
resource "terraform_data" "package" {
  count = local.build_package ? 1 : 0

  triggers_replace = [local.lambda_build_digest, local.lambda_package_path]

  provisioner "local-exec" {
    command = "python3 \"${path.module}/lambda/build.py\" --output \"${local.lambda_package_path}\" --arch ${var.lambda_architecture} --python-version ${local.lambda_python_version}"
  }
}
