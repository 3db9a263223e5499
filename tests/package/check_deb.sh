#!/usr/bin/env bash
# Builds the Debian package from the build tree with CPack, checks what it holds (binaries,
# unit, conffile, maintainer scripts, dependencies), runs lintian when it is installed, unpacks
# it into a throwaway root (no dpkg database touched) and starts qimd from there on loopback:
# it must write its port file, answer qimctl and /livez, and stop cleanly on SIGTERM.
set -euo pipefail
build=$1
source=$2
work=$(mktemp -d)
qimd_pid=
cleanup() {
  if [[ -n "$qimd_pid" ]] && kill -0 "$qimd_pid" 2>/dev/null; then kill -KILL "$qimd_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "check_deb: $*" >&2; exit 1; }

(cd "$work" && cpack --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log" >&2; fail "cpack failed"; }
deb=$(ls "$work"/out/qim_*_amd64.deb 2>/dev/null | head -1)
[[ -n "$deb" ]] || fail "no qim_<version>_amd64.deb in $work/out"
echo "built $(basename "$deb")"

dpkg-deb --info "$deb" >"$work/info"
grep -q '^ Package: qim$' "$work/info" || fail "the package is not named qim"
grep -qE '^ Depends: .*adduser' "$work/info" || fail "no dependency on adduser"
grep -qE '^ Depends: .*libsodium' "$work/info" || fail "shared library dependencies missing"
dpkg-deb --contents "$deb" >"$work/contents"
for path in ./usr/bin/qimd ./usr/bin/qimctl ./usr/bin/qim ./lib/systemd/system/qimd.service \
  ./etc/qim/qimd.conf ./usr/share/doc/qim/README.md ./usr/share/doc/qim/examples/qimd-n1.conf; do
  grep -qE " $path\$" "$work/contents" || fail "$path is not in the package"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$work" ./conffiles ./postinst
grep -qx /etc/qim/qimd.conf "$work/conffiles" || fail "/etc/qim/qimd.conf is not a conffile"
grep -q 'adduser --quiet --system --group' "$work/postinst" || fail "postinst creates no qim user"
if command -v lintian >/dev/null; then
  # Informational: the package is built by CPack, not debhelper, so some tags are expected.
  lintian --no-tag-display-limit "$deb" || true
fi

root="$work/root"
dpkg-deb -x "$deb" "$root"
grep -q '^ExecStart=/usr/bin/qimd --config /etc/qim/qimd.conf$' \
  "$root/lib/systemd/system/qimd.service" || fail "the unit does not start /usr/bin/qimd"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$root/lib/systemd/system/qimd.service" 2>&1 |
    grep -v 'Command /usr/bin/qimd is not executable\|qim.*user\|not found' || true
fi
"$root/usr/bin/qimd" --config "$root/etc/qim/qimd.conf" --check-config >/dev/null ||
  fail "the packaged configuration is not valid"

data="$work/data"
"$root/usr/bin/qimd" --config "$root/etc/qim/qimd.conf" --data-dir "$data" \
  --listen 127.0.0.1:0 --port-file "$work/ports" --pwhash-cost min >"$work/qimd.log" 2>&1 &
qimd_pid=$!
for _ in $(seq 200); do
  [[ -s "$work/ports" ]] && break
  kill -0 "$qimd_pid" 2>/dev/null || { cat "$work/qimd.log" >&2; fail "qimd exited"; }
  sleep 0.1
done
[[ -s "$work/ports" ]] || { cat "$work/qimd.log" >&2; fail "no port file within 20 s"; }
"$root/usr/bin/qimctl" --port-file "$work/ports" --data-dir "$data" members | grep -q '(self)' ||
  fail "qimctl from the package got no member list"
http=$(sed -n 's/^http //p' "$work/ports")
exec 3<>"/dev/tcp/127.0.0.1/$http"
printf 'GET /livez HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
head -1 <&3 | grep -q ' 200 ' || fail "/livez did not answer 200"
exec 3<&-
kill -TERM "$qimd_pid"
for _ in $(seq 200); do
  kill -0 "$qimd_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$qimd_pid" 2>/dev/null; then fail "qimd did not stop within 20 s of SIGTERM"; fi
wait "$qimd_pid" || fail "qimd exited with $? after SIGTERM"
qimd_pid=
echo "check_deb: ok"
