# Shared helpers for .ci scripts: tools are cached outside the work tree so
# later runs are fast. Sourced, not executed.
TOOLS="${REKEY_TOOLS:-$HOME/.cache/rekey-tools}"
mkdir -p "$TOOLS/bin"
export PATH="$TOOLS/bin:$PATH"

# ensure_apt COMMAND PACKAGE: install a Debian package when its command is missing.
ensure_apt() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "installing $2 (apt)" >&2
    if [[ $(id -u) -eq 0 ]]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    else
      echo "warning: $1 is missing and installing $2 needs root" >&2
    fi
  fi
}

# ensure_go_tool BINARY MODULE@VERSION: go install into the tool cache.
ensure_go_tool() {
  local want="${2##*@}"
  if ! [[ -x "$TOOLS/bin/$1" && -f "$TOOLS/bin/$1.version" && "$(cat "$TOOLS/bin/$1.version")" == "$want" ]]; then
    echo "installing $2 (takes a few minutes the first time)" >&2
    GOBIN="$TOOLS/bin" go install "$2"
    echo "$want" > "$TOOLS/bin/$1.version"
  fi
}
