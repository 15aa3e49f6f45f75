#!/usr/bin/env bash
# Staged (pre-commit) benchmark: `rekey scan --staged` on a 5-file staged change in a small and a large
# repository. The cost must not grow with the repository: target, the two medians within 1.5x.
#
# Usage: .ci/bench/staged.sh [-s SMALL] [-l LARGE] [-r RUNS] [-d DIR] [--keep] [--strict]
#
#   -s SMALL  files in the small repository (default 1000)
#   -l LARGE  files in the large repository (default 50000)
#   -r RUNS   timed runs in each repository, interleaved (default 21); medians are reported
#   -d DIR    where to create the repositories (default ${TMPDIR:-/tmp}; never inside this checkout)
#   --keep    keep the repositories and print their path
#   --strict  exit 1 when the target is missed
#
# Each repository is one commit made by `git fast-import` (files of 200 B to 4 kB in directories
# of about 50 files, three levels deep), packed, with an index made by `git read-tree` as after a
# checkout. Then 5 files in different directories are changed and staged with `git add`, one of them
# with a key made at run time (so rekey must report exactly one finding and exit 1).
# `git diff --cached --quiet` is timed alongside as a reference, and `rekey version` for rekey's fixed
# start-up cost. Needs git and awk.
set -euo pipefail

small=1000 large=50000 runs=21 base="${TMPDIR:-/tmp}" keep=0 strict=0
while (($#)); do
	case "$1" in
	-s) small=$2; shift 2 ;;
	-l) large=$2; shift 2 ;;
	-r) runs=$2; shift 2 ;;
	-d) base=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--strict) strict=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/{/^set/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "staged.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

checkout=$(cd "$(dirname "$0")/../.." && pwd -P)
work=$(cd "$(mktemp -d "$base/rekey-bench-staged.XXXXXX")" && pwd -P)
case "$work/" in "$checkout"/*) echo "staged.sh: $work is inside the checkout; use -d" >&2; exit 2 ;; esac
cleanup() { if ((keep)); then echo "kept: $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

echo "== building rekey"
(cd "$checkout" && go build -o "$work/rekey" ./cmd/rekey)
key="pplx""-$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 48 || true)"

# make_repo DIR FILES
make_repo() {
	local dir=$1 files=$2
	git init -q -b main "$dir"
	git -C "$dir" config user.name Bench
	git -C "$dir" config user.email bench@example.com
	LC_ALL=C awk -v files="$files" 'BEGIN {
		srand(files)
		print "commit refs/heads/main"
		print "committer Bench <bench@example.com> 1600000000 +0000"
		print "data 4"; print "init"
		for (f = 0; f < files; f++) {
			n = 200 + int(rand() * 3800); s = ""
			while (length(s) < n) s = s "line " f " of generated content " int(rand() * 1e9) "\n"
			print "M 100644 inline d" int(f / 2500) "/s" int(f / 50) % 50 "/file" f ".txt"
			print "data " length(s); printf "%s", s
		}
		print ""
	}' | git -C "$dir" fast-import --quiet
	git -C "$dir" repack -adq
	git -C "$dir" read-tree HEAD # the index after a checkout, cache-tree included
	# Five files in five directories, staged the way a developer does.
	local i step=$((files / 5))
	for ((i = 0; i < 5; i++)); do
		local f=$((i * step + 7)) p
		p="d$((f / 2500))/s$(((f / 50) % 50))/file$f.txt"
		mkdir -p "$dir/$(dirname "$p")"
		git -C "$dir" show "HEAD:$p" >"$dir/$p"
		if ((i == 2)); then echo "API_KEY=$key" >>"$dir/$p"; else echo "changed" >>"$dir/$p"; fi
		git -C "$dir" add "$p"
	done
}

for n in "$small" "$large"; do
	echo "== generating a repository of $n files"
	make_repo "$work/repo-$n" "$n"
	echo "   index $(($(stat -c %s "$work/repo-$n/.git/index") / 1024)) kB, pack $(du -sk "$work/repo-$n/.git/objects/pack" | cut -f1) kB"
done

now_ms() { echo "${EPOCHREALTIME/[.,]/}" | awk '{printf "%.3f", $1 / 1000}'; }
# timed NAME CMD...: run CMD, append its wall time in ms to $work/NAME.
timed() {
	local name=$1 start end rc=0; shift
	start=$(now_ms)
	"$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
	end=$(now_ms)
	awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f\n", b - a}' >>"$work/$name.ms"
	return $rc
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== timing: $runs runs each, interleaved"
for ((r = 0; r < runs; r++)); do
	for n in "$small" "$large"; do
		rc=0
		(cd "$work/repo-$n" && timed "rekey-$n" "$work/rekey" scan --staged) || rc=$?
		if ((rc != 1)); then echo "rekey exited $rc in repo-$n (want 1: one key):" >&2; cat "$work/rekey-$n.err" >&2; exit 1; fi
		(cd "$work/repo-$n" && timed "git-$n" git diff --cached --quiet) || true
	done
	timed version "$work/rekey" version
done
grep -q "1 finding (1 distinct key) in 5 files" "$work/rekey-$large.out" || { cat "$work/rekey-$large.out" >&2; exit 1; }
rss=$(cd "$work/repo-$large" && { /usr/bin/time -f %M "$work/rekey" scan --staged >/dev/null 2>"$work/rss" || true; } && tail -1 "$work/rss")

s_ms=$(median <"$work/rekey-$small.ms") l_ms=$(median <"$work/rekey-$large.ms")
ratio=$(awk -v a="$l_ms" -v b="$s_ms" 'BEGIN {printf "%.2f", a / b}')
echo
printf 'rekey scan --staged   %6s files: %7.1f ms   %6s files: %7.1f ms   ratio %sx  (peak RSS %s MB)\n' \
	"$small" "$s_ms" "$large" "$l_ms" "$ratio" "$((${rss:-0} / 1024))"
printf 'git diff --cached     %6s files: %7.1f ms   %6s files: %7.1f ms\n' \
	"$small" "$(median <"$work/git-$small.ms")" "$large" "$(median <"$work/git-$large.ms")"
printf 'rekey version (process start-up alone): %.1f ms\n' "$(median <"$work/version.ms")"
if ((strict)) && awk -v r="$ratio" 'BEGIN {exit !(r > 1.5)}'; then
	echo "FAIL: target missed (ratio <= 1.5)" >&2
	exit 1
fi
