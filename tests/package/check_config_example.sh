#!/usr/bin/env bash
# deploy/qimd.conf.example against qimd's flag table: every flag of `qimd --help` (but the
# one-shot ones) appears as a commented `# name = value` line and nothing else does; with every
# line uncommented the file is a valid configuration; so are the three-node examples.
set -euo pipefail
qimd=$1
deploy=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$qimd" --help | grep -oE '^  --[a-z-]+' | sed 's/^  --//' |
  grep -vxE 'config|generate-cluster-key|generate-tls-cert|tls-cert-host|tls-cert-days|check-config|help' | sort -u >"$work/flags"
grep -oE '^# [a-z-]+ = ' "$deploy/qimd.conf.example" | sed -E 's/^# ([a-z-]+) = /\1/' |
  sort -u >"$work/example"
if ! diff -u "$work/flags" "$work/example"; then
  echo "qimd.conf.example and qimd --help disagree (- only in --help, + only in the example)" >&2
  exit 1
fi

# Everything uncommented (a real key file, since one is named), with paths in the work dir.
"$qimd" --generate-cluster-key "$work/cluster.key" >/dev/null
printf 'admin-token-file-contents-0123456789\n' >"$work/admin.token"
chmod 0600 "$work/admin.token"
# A certificate for the tls-cert/tls-key lines, which qimd loads to check them.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -keyout "$work/tls.key" -out "$work/tls.pem" 2>/dev/null
tls="s|^tls-cert = .*|tls-cert = \"$work/tls.pem\"|;s|^tls-key = .*|tls-key = \"$work/tls.key\"|"
tls="$tls;s|^tls-client-ca = .*|tls-client-ca = \"$work/tls.pem\"|"
# The web-root line names a directory, which qimd checks.
mkdir -p "$work/web"
tls="$tls;s|^web-root = .*|web-root = \"$work/web\"|"
sed -E -n 's/^# ([a-z-]+ = .*)$/\1/p' "$deploy/qimd.conf.example" |
  sed -E "s|^cluster-key-file = .*|cluster-key-file = \"$work/cluster.key\"|;
          s|^admin-token-file = .*|admin-token-file = \"$work/admin.token\"|;$tls" >"$work/all.conf"
"$qimd" --config "$work/all.conf" --check-config
for node in "$deploy"/three-nodes/qimd-n*.conf; do
  sed -E "s|^cluster-key-file = .*|cluster-key-file = \"$work/cluster.key\"|;$tls" "$node" \
    >"$work/node.conf"
  "$qimd" --config "$work/node.conf" --check-config
done
# A misspelt key is refused, so the check above means something.
printf 'lisen = "127.0.0.1:7700"\n' >"$work/bad.conf"
if "$qimd" --config "$work/bad.conf" --check-config 2>/dev/null; then
  echo "a config file with an unknown key was accepted" >&2
  exit 1
fi
echo "qimd.conf.example: $(wc -l <"$work/flags") flags, all listed and valid"
