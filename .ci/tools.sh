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

# ensure_vault: build the HashiCorp Vault dev server from the tools module in
# .ci/vault (its dependencies stay out of rekey's go.mod) into the tool cache.
# Cold, this takes 20-40 minutes on 2 cores; warm, seconds.
ensure_vault() {
  local want
  want=$(sha256sum .ci/vault/go.mod .ci/vault/go.sum | sha256sum | cut -c1-16)
  if ! [[ -x "$TOOLS/bin/vault" && -f "$TOOLS/bin/vault.version" && "$(cat "$TOOLS/bin/vault.version")" == "$want" ]]; then
    echo "building the Vault dev server (20-40 minutes the first time)" >&2
    (cd .ci/vault && GOTOOLCHAIN=local go build -ldflags="-s -w" -o "$TOOLS/bin/vault" github.com/hashicorp/vault)
    echo "$want" > "$TOOLS/bin/vault.version"
  fi
  export REKEY_VAULT_BIN="$TOOLS/bin/vault"
}
