#!/bin/sh
# Builds the AWS Lambda package of incident-bot: the binary as `bootstrap`
# in a zip, for the provided.al2023 runtime (docs/lambda.md).
#
#   deploy/lambda/package.sh [x86_64|arm64]     (default: this machine's)
#
# Prints the zip's path. The build has no gateway (`--no-default-features
# --features lambda,jemalloc`) and its own target directory (target/lambda).
# arm64 from an x86_64 machine needs the cross linker:
#   rustup target add aarch64-unknown-linux-gnu
#   apt-get install gcc-aarch64-linux-gnu
# The binary needs glibc 2.34 at most (what Amazon Linux 2023 has): the
# script checks.
set -eu
cd "$(dirname "$0")/../.."
host=$(uname -m)
arch=${1:-$host}
[ "$arch" = aarch64 ] && arch=arm64
[ "$host" = aarch64 ] && host=arm64
case $arch in
  x86_64) triple=x86_64-unknown-linux-gnu ;;
  arm64) triple=aarch64-unknown-linux-gnu ;;
  *) echo "package.sh: unknown architecture $arch (x86_64 or arm64)" >&2; exit 2 ;;
esac
if [ "$arch" = "$host" ]; then
  out=target/lambda/release
  set --
else
  out=target/lambda/$triple/release
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
  export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
  set -- --target "$triple"
fi
cargo build --release --locked --no-default-features --features lambda,jemalloc \
  --bin incident-bot --target-dir target/lambda "$@" >&2
zip=target/lambda/incident-bot-lambda-$arch.zip
python3 - "$out/incident-bot" "$zip" <<'PY'
import re, subprocess, sys, zipfile
binary, zip_path = sys.argv[1], sys.argv[2]
# Amazon Linux 2023 has glibc 2.34: no symbol may need a later one.
try:
    symbols = subprocess.run(["objdump", "-T", binary], capture_output=True, text=True, check=True).stdout
    needed = max((tuple(map(int, v.split("."))) for v in re.findall(r"GLIBC_([0-9.]+)", symbols)), default=(0,))
    if needed > (2, 34):
        sys.exit(f"package.sh: {binary} needs glibc {'.'.join(map(str, needed))}, above Amazon Linux 2023's 2.34")
except FileNotFoundError:
    print("package.sh: objdump not found; the glibc check was skipped", file=sys.stderr)
info = zipfile.ZipInfo("bootstrap", date_time=(2026, 1, 1, 0, 0, 0))
info.external_attr = 0o100755 << 16
info.compress_type = zipfile.ZIP_DEFLATED
with open(binary, "rb") as f, zipfile.ZipFile(zip_path, "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
PY
echo "$zip"
