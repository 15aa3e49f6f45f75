#!/usr/bin/env bash
# History benchmark: `rekey scan --history` against the physical limit of reading every object once,
# `git cat-file --batch-all-objects --batch --unordered | grep -c pplx-`, on a generated repository.
#
# Usage: .ci/bench/history.sh [-c COMMITS] [-f FILES] [-v VERSIONS] [-k KEYS] [-r RUNS] [-s SEED]
#                             [-d DIR] [--repo PATH] [--no-go-git] [--keep] [--strict]
#
#   -c COMMITS  commits on main (default 20000)
#   -f FILES    files in the tree (default 2500; must not be a multiple of 7919)
#   -v VERSIONS versions of each file (default 20): FILES*VERSIONS distinct blobs (50,000 by default,
#               about 1.2 GB inflated: files of 100 to 1,000 lines, a few lines changed per version)
#   -k KEYS     keys planted (default 10): even ones stay in the file, odd ones are in one version only
#               (added, then deleted by the next commit that touches the file)
#   -r RUNS     timed runs of each contender, interleaved (default 3); medians are reported
#   -s SEED     seed of the content (default 1)
#   -d DIR      where to create the repository (default ${TMPDIR:-/tmp}; never inside this checkout)
#   --repo PATH reuse a repository made by an earlier --keep run instead of generating one
#   --no-go-git skip the (slow) pure go-git run
#   --keep      keep the repository and print its path
#   --strict    exit 1 when a target is missed (rekey > 2x the limit, or peak RSS >= 512 MB)
#
# The repository is built in one pass by `git fast-import` from a stream that awk writes: all versions
# of one file follow each other, so fast-import stores each as a delta against the previous one, as a
# packed real repository would. Keys are made at run time (48 random letters and digits from
# /dev/urandom); this script holds none. Needs git, awk and GNU time (/usr/bin/time, package `time`).
set -euo pipefail

commits=20000 files=2500 versions=20 keys=10 runs=3 seed=1 base="${TMPDIR:-/tmp}" reuse="" gogit=1 keep=0 strict=0
while (($#)); do
	case "$1" in
	-c) commits=$2; shift 2 ;;
	-f) files=$2; shift 2 ;;
	-v) versions=$2; shift 2 ;;
	-k) keys=$2; shift 2 ;;
	-r) runs=$2; shift 2 ;;
	-s) seed=$2; shift 2 ;;
	-d) base=$2; shift 2 ;;
	--repo) reuse=$2; shift 2 ;;
	--no-go-git) gogit=0; shift ;;
	--keep) keep=1; shift ;;
	--strict) strict=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/{/^set/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "history.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
((files % 7919 != 0)) || { echo "history.sh: -f must not be a multiple of 7919" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "history.sh: GNU time is needed (apt-get install -y time)" >&2; exit 2; }

checkout=$(cd "$(dirname "$0")/../.." && pwd -P)
work=$(cd "$(mktemp -d "$base/rekey-bench-history.XXXXXX")" && pwd -P)
case "$work/" in "$checkout"/*) echo "history.sh: $work is inside the checkout; use -d" >&2; exit 2 ;; esac
cleanup() { if ((keep)); then echo "kept: $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

# Git must not read the machine's config (no hooks, no signing, no aliases) while building.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

echo "== building rekey"
(cd "$checkout" && go build -o "$work/rekey" ./cmd/rekey)

key() { printf '%s%s' "pplx" "-$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 48 || true)"; }

if [[ -n "$reuse" ]]; then
	repo=$(cd "$reuse" && pwd -P)
else
	repo="$work/repo"
	echo "== generating: $commits commits, $files files x $versions versions, $keys keys"
	git init -q -b main "$repo"
	keylist=""
	for ((i = 0; i < keys; i++)); do keylist+="$(key) "; done
	start=$(date +%s.%N)
	LC_ALL=C awk -v commits="$commits" -v files="$files" -v versions="$versions" -v seed="$seed" \
		-v keylist="$keylist" -f /dev/stdin <<'AWK' | git -C "$repo" fast-import --quiet --depth=50
function word() { return vocab[1 + int(rand() * nv)] }
function genline(   n, s, k, d) {
	d = int(rand() * 4); s = ""
	for (k = 0; k < d; k++) s = s "\t"
	n = 3 + int(rand() * 8)
	s = s word()
	for (k = 1; k < n; k++) s = s (rand() < 0.15 ? "(" : " ") word()
	if (rand() < 0.3) s = s " // " word() " " word()
	return s
}
function setline(i, s) { total += length(s) - LEN[i]; L[i] = s; LEN[i] = length(s) }
function insline(at, s,   k) {
	for (k = n; k >= at; k--) { L[k + 1] = L[k]; LEN[k + 1] = LEN[k] }
	n++; L[at] = s; LEN[at] = length(s); total += length(s) + 1
}
function delline(at,   k) {
	total -= LEN[at] + 1
	for (k = at; k < n; k++) { L[k] = L[k + 1]; LEN[k] = LEN[k + 1] }
	n--
}
function path(f,   ext) {
	ext = f % 10 < 6 ? ".go" : f % 10 < 8 ? ".py" : f % 10 < 9 ? ".md" : ".yaml"
	return "src/m" (f % 50) "/p" (int(f / 50) % 7) "/file" f ext
}
BEGIN {
	srand(seed)
	nv = split("func return if else for range var const type struct interface map string int error nil " \
		"true false package import defer go select case switch default break continue len cap make new " \
		"append copy delete panic print fmt os io err ctx buf data value key name path file line count " \
		"index item list node tree hash size offset reader writer client server request response config", vocab, " ")
	nk = split(keylist, K, " ")
	for (j = 1; j <= nk; j++) { kf[(j * 997) % files] = j; kv[(j * 997) % files] = 1 + (j * 7) % (versions - 1) }
	for (f = 0; f < files; f++) {
		n = 100 + (f * 7919) % 900; total = 0
		for (i = 1; i <= n; i++) { L[i] = genline(); LEN[i] = length(L[i]); total += LEN[i] + 1 }
		for (v = 0; v < versions; v++) {
			if (v > 0) {
				for (c = 0; c < 3; c++) setline(1 + int(rand() * n), genline())
				insline(1 + int(rand() * n), genline())
				if (rand() < 0.5) delline(1 + int(rand() * n))
			}
			extra = ""
			if ((f in kf) && kv[f] == v) {
				j = kf[f]
				s = "\tapiKey := \"" K[j] "\""
				if (j % 2 == 0) insline(1 + int(n / 2), s); else extra = s
			}
			print "blob"; print "mark :" (f * versions + v + 1)
			print "data " (total + (extra == "" ? 0 : length(extra) + 1))
			for (i = 1; i <= n; i++) print L[i]
			if (extra != "") print extra
		}
	}
	mods = files * (versions - 1)
	for (c = 0; c < commits; c++) {
		print "commit refs/heads/main"; print "mark :" (1000000000 + c)
		print "author Bench <bench@example.com> " (1600000000 + c * 60) " +0000"
		print "committer Bench <bench@example.com> " (1600000000 + c * 60) " +0000"
		msg = "change " c; print "data " length(msg); print msg
		if (c == 0) {
			for (f = 0; f < files; f++) print "M 100644 :" (f * versions + 1) " " path(f)
		} else {
			lo = int((c - 1) * mods / (commits - 1)); hi = int(c * mods / (commits - 1))
			for (m = lo; m < hi; m++) {
				jb = int(m / files); f = ((m % files) * 7919 + jb * 131) % files
				print "M 100644 :" (f * versions + jb + 2) " " path(f)
			}
		}
		print ""
		if (c == int(commits / 2)) {
			print "tag v1.0"; print "from :" (1000000000 + c)
			print "tagger Bench <bench@example.com> " (1600000000 + c * 60) " +0000"
			print "data 8"; print "release"
			print "reset refs/heads/release"; print "from :" (1000000000 + c); print ""
		}
	}
}
AWK
	echo "   generated in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
fi

git -C "$repo" count-objects -v | sed 's/^/   /'
inflated=$(git -C "$repo" cat-file --batch-all-objects --batch-check='%(objectsize)' --unordered | awk '{s+=$1} END {print s}')
echo "   objects inflated: $((inflated / 1000000)) MB; commits: $(git -C "$repo" rev-list --all --count)"
cat "$repo"/.git/objects/pack/* >/dev/null # warm the page cache

# measure NAME CMD...: run CMD under GNU time, append "seconds maxrss_kb" to $work/NAME.
measure() {
	local name=$1; shift
	/usr/bin/time -f '%e %M' -o "$work/$name.last" "$@" >"$work/$name.out" 2>"$work/$name.err" || {
		local rc=$?
		# rekey exits 1 when it finds keys, which it must here.
		if [[ $name != rekey* || $rc -ne 1 ]]; then cat "$work/$name.err" >&2; exit 1; fi
	}
	tail -1 "$work/$name.last" >>"$work/$name.times"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

limit_cmd=(bash -c 'git -C "$1" cat-file --batch-all-objects --batch --unordered | grep -c pplx- || true' _ "$repo")
rekey_cmd=("$work/rekey" scan --history --format json --output "$work/report.json" "$repo")

echo "== timing: $runs runs each, interleaved"
for ((r = 0; r < runs; r++)); do
	measure limit "${limit_cmd[@]}"
	measure rekey "${rekey_cmd[@]}"
done
if ((gogit)); then
	measure rekey-go-git "$work/rekey" scan --history --no-git-cli --format json --output "$work/report-go-git.json" "$repo"
fi

limit_s=$(cut -d' ' -f1 "$work/limit.times" | median)
rekey_s=$(cut -d' ' -f1 "$work/rekey.times" | median)
rekey_kb=$(cut -d' ' -f2 "$work/rekey.times" | sort -n | tail -1)
ratio=$(ratio "$rekey_s" "$limit_s")
findings=$(grep -o '"key_id"' "$work/report.json" | wc -l)
distinct=$(grep -o '"key_id": *"[^"]*"' "$work/report.json" | sort -u | wc -l)
echo
echo "limit  (cat-file | grep -c):  ${limit_s}s  (grep counted $(cat "$work/limit.out") lines)"
echo "rekey --history (git CLI):    ${rekey_s}s  peak RSS $((rekey_kb / 1024)) MB  ratio ${ratio}x  ($findings findings, $distinct distinct keys)"
if ((gogit)); then
	read -r gs gkb <"$work/rekey-go-git.times"
	echo "rekey --history --no-git-cli: ${gs}s  peak RSS $((gkb / 1024)) MB  ratio $(ratio "$gs" "$limit_s")x"
	cmp -s <(grep -v duration_ms "$work/report.json") <(grep -v duration_ms "$work/report-go-git.json") &&
		echo "reports of both paths identical (duration aside)" || echo "WARNING: the two paths' reports differ"
fi
if ((distinct != keys)); then echo "FAIL: $distinct distinct keys found, $keys planted" >&2; exit 1; fi
if ((strict)) && { awk -v r="$ratio" 'BEGIN {exit !(r > 2)}' || ((rekey_kb >= 512 * 1024)); }; then
	echo "FAIL: target missed (ratio <= 2, peak RSS < 512 MB)" >&2
	exit 1
fi
