#!/usr/bin/env bash
# Working-tree benchmark: `rekey scan` against ripgrep on a generated tree.
#
# Usage: .ci/bench/worktree.sh [-r RUNS] [-f FILES] [-m MIB] [-k KEYS] [-s SEED] [-d DIR] [--keep] [--strict]
#
#   -r RUNS   timed runs of each tool, interleaved (default 7)
#   -f FILES  files in the tree (default 20000)
#   -m MIB    total size in MiB (default 500)
#   -k KEYS   keys planted, one per file (default 50)
#   -s SEED   seed of the tree and its keys (default: from the clock, printed)
#   -d DIR    where to create the temporary tree (default ${TMPDIR:-/tmp}; never inside the repository)
#   --keep    keep the tree and print its path (e.g. for REKEY_BENCH_TREE=path go test -bench WorkTree ./scanner)
#   --strict  also exit 1 when a target is missed (ratio > 1.5 or peak RSS ≥ 150 MB)
#
# Needs go and ripgrep (apt-get install -y ripgrep); hyperfine is not needed. Peak memory comes from
# wait4's rusage (the helper's measure mode) and, when GNU time is installed, is cross-checked once
# with /usr/bin/time -v.
#
# The tree is source-like text (the Go distribution's own sources, sampled) with log-normal file sizes
# (median about 6 KB, long tail to several MB) in nested directories; the keys are made at run time by
# scanner/testkeys, so this script holds no key. Both tools must count exactly KEYS keys, else exit 1.
# Timings: the page cache is warmed first, then rg and rekey alternate so that load from elsewhere on
# the machine hits both alike; the ratio is median(rekey) / median(rg) over the same run.
set -euo pipefail

runs=7 files=20000 mib=500 keys=50 seed="" base="${TMPDIR:-/tmp}" keep=0 strict=0
while (($#)); do
	case "$1" in
	-r) runs=$2; shift 2 ;;
	-f) files=$2; shift 2 ;;
	-m) mib=$2; shift 2 ;;
	-k) keys=$2; shift 2 ;;
	-s) seed=$2; shift 2 ;;
	-d) base=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--strict) strict=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/{/^set/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "worktree.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

repo=$(cd "$(dirname "$0")/../.." && pwd -P)
command -v go >/dev/null || { echo "worktree.sh: go not found" >&2; exit 2; }
rg=$(command -v rg) || { echo "worktree.sh: ripgrep not found (apt-get install -y ripgrep)" >&2; exit 2; }

work=$(cd "$(mktemp -d "$base/rekey-bench.XXXXXX")" && pwd -P)
case "$work/" in "$repo"/*) echo "worktree.sh: $work is inside the repository; use -d" >&2; exit 2 ;; esac
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() { if ((keep)); then echo "kept: $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

echo "== building"
(cd "$repo" && go build -o "$work/rekey" ./cmd/rekey && go build -o "$work/helper" .ci/bench/worktree.go)

echo "== generating the tree"
tree="$work/tree"
"$work/helper" gen -dir "$tree" -files "$files" -mb "$mib" -keys "$keys" ${seed:+-seed "$seed"} \
	-corpus "$(go env GOROOT)/src"

# The equivalent of rekey's plain-key match for ripgrep; -uu: hidden and ignored files too, like rekey.
pattern='pplx-[A-Za-z0-9]{48}'
rg_cmd=("$rg" -uu -c "$pattern" "$tree")
rekey_cmd=("$work/rekey" scan --format json "$tree")

# measure OUT CMD...: prints "WALL_S MAXRSS_KB EXIT CPU_S".
measure() { local out=$1; shift; "$work/helper" measure -out "$out" -- "$@"; }

echo "== warming the page cache"
measure /dev/null "${rg_cmd[@]}" >/dev/null
measure /dev/null "${rekey_cmd[@]}" >/dev/null

echo "== $runs interleaved runs of each ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null))"
printf '%4s  %8s  %8s  %6s  %8s  %8s  %12s\n' run rg_s rekey_s ratio rg_cpu rekey_cpu rekey_rss_kb
rg_times=() rekey_times=() rekey_rss=() rg_cpus=() rekey_cpus=()
for ((i = 1; i <= runs; i++)); do
	read -r rg_s _ rg_exit rg_cpu < <(measure "$work/rg.out" "${rg_cmd[@]}")
	read -r rk_s rk_kb rk_exit rk_cpu < <(measure "$work/rekey.json" "${rekey_cmd[@]}")
	# rg exits 0 when it matched; rekey exits 1 when it found keys. Anything else is a failure.
	[[ $rg_exit == 0 && $rk_exit == 1 ]] || { echo "unexpected exit: rg $rg_exit, rekey $rk_exit" >&2; exit 1; }
	rg_times+=("$rg_s") rekey_times+=("$rk_s") rekey_rss+=("$rk_kb") rg_cpus+=("$rg_cpu") rekey_cpus+=("$rk_cpu")
	printf '%4d  %8s  %8s  %6.2f  %8s  %8s  %12s\n' "$i" "$rg_s" "$rk_s" "$(awk -v a="$rk_s" -v b="$rg_s" 'BEGIN{print a/b}')" \
		"$rg_cpu" "$rk_cpu" "$rk_kb"
done

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
maximum() { printf '%s\n' "$@" | sort -g | tail -1; }
rg_med=$(median "${rg_times[@]}")
rk_med=$(median "${rekey_times[@]}")
ratio=$(awk -v a="$rk_med" -v b="$rg_med" 'BEGIN{printf "%.2f", a/b}')
pair_ratio=$(median "$(for i in "${!rg_times[@]}"; do awk -v a="${rekey_times[$i]}" -v b="${rg_times[$i]}" 'BEGIN{print a/b}'; done)" |
	awk '{printf "%.2f", $1}')
rg_cpu_med=$(median "${rg_cpus[@]}")
rk_cpu_med=$(median "${rekey_cpus[@]}")
rss_mb=$(awk -v k="$(maximum "${rekey_rss[@]}")" 'BEGIN{printf "%.1f", k/1024}')

# Both tools must have counted every planted key and nothing else.
rg_count=$(awk -F: '{s+=$NF} END{print s+0}' "$work/rg.out")
rk_count=$(grep -c '"key_id"' "$work/rekey.json" || true)
rk_files=$(grep -m1 -o '"files": [0-9]*' "$work/rekey.json" | grep -o '[0-9]*$' || true)

echo "== results (load average now $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null); other load makes single runs noisy)"
echo "keys found:     rg $rg_count, rekey $rk_count (planted $keys); rekey read $rk_files files"
echo "wall (median):  rg ${rg_med}s, rekey ${rk_med}s"
echo "ratio:          $ratio (target ≤ 1.5); median of per-run ratios $pair_ratio"
echo "CPU (median):   rg ${rg_cpu_med}s, rekey ${rk_cpu_med}s (user + system; less sensitive to other load than wall time)"
echo "rekey peak RSS: ${rss_mb} MiB (max over runs; target < 150 MB)"
if [[ -x /usr/bin/time ]] && /usr/bin/time -v true >/dev/null 2>&1; then
	/usr/bin/time -v "${rekey_cmd[@]}" 2>&1 >/dev/null | sed -n 's/^\t*Maximum resident set size (kbytes): /rekey peak RSS, \/usr\/bin\/time -v: /p' | sed 's/$/ KiB/' || true
fi

status=0
if [[ $rg_count != "$keys" || $rk_count != "$keys" || $rk_files != "$files" ]]; then
	echo "FAIL: key or file counts differ from what was planted" >&2
	status=1
fi
if awk -v r="$ratio" -v m="$rss_mb" 'BEGIN{exit !(r <= 1.5 && m * 1048576 < 150e6)}'; then
	echo "targets: met (they are set for 20,000 files / 500 MiB)"
else
	echo "targets: MISSED (they are set for 20,000 files / 500 MiB)"
	((strict)) && status=1
fi
exit "$status"
