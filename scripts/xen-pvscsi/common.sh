# Shared settings for the xen-pvscsi build and test scripts. Sourced, not run.
# SPDX-License-Identifier: GPL-2.0-or-later

# Project root (the clone).
XPV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# The one place where the QEMU base is pinned: Debian source package
# "qemu" from trixie. Upstream version is the part before "+ds".
XPV_QEMU_DEB_VERSION=1:10.0.13+ds-0+deb13u1
XPV_QEMU_SUITE=trixie

# QEMU's configure arguments, for the main build (build.sh) and the
# series build (check-series.sh). VNC (with pixman): libxl always passes
# -vnc to the device model it starts, so the libxl route
# (device_model_override) needs it.
XPV_QEMU_CFG_ARGS=(--target-list=x86_64-softmmu --without-default-features
                   --enable-xen --enable-kvm --enable-libiscsi --enable-linux-aio
                   --enable-linux-io-uring --enable-tools --disable-install-blobs
                   --enable-pixman --enable-vnc
                   --disable-docs --disable-download --enable-fdt=system
                   --python=/usr/bin/python3
                   --enable-trace-backends=log)

# Everything built or downloaded lives outside the clone.
: "${XPV_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/xen-pvscsi}"
# config.mk written by ./configure may override these.
if [ -f "$XPV_ROOT/config.mk" ]; then
    # shellcheck disable=SC1091
    eval "$(sed -n 's/^\([A-Z_]*\) *?\{0,1\}= *\(.*\)$/: "${\1:=\2}"/p' "$XPV_ROOT/config.mk")"
fi
: "${XPV_QEMU_SRC:=$XPV_CACHE/qemu-src}"
# A sanitizer build (./configure --enable-sanitizers) has its own build dir.
: "${XPV_BUILD:=$XPV_CACHE/build${XPV_SANITIZERS:+-asan}}"
export CCACHE_DIR="${CCACHE_DIR:-$XPV_CACHE/ccache}"

xpv_log() { printf '[xen-pvscsi %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
xpv_die() { printf '[xen-pvscsi] ERROR: %s\n' "$*" >&2; exit 1; }
# The lines that start a sanitizer's report (ASan, LSan, UBSan), for grep -E
XPV_SANITIZER_RE='runtime error:|ERROR: (Address|Leak)Sanitizer'
# xpv_callgrind_self FILE: a callgrind dump's self cost per function, one
# "COUNT<TAB>file:function" line each (callgrind_annotate's table, commas
# dropped); for make bench-native --profile and make bench's callgrind pass
xpv_callgrind_self() {
    callgrind_annotate --inclusive=no --tree=none --threshold=100 "$1" |
        sed -n 's/^ *\([0-9,]*\) ([ 0-9.]*%)  \([^ ]*:[^ ]*\).*/\1\t\2/p' | tr -d ,
}

# xpv_callgrind_calls FILE CALLER CALLEE: how many calls a callgrind dump
# has recorded from CALLER to CALLEE (names without the '2 callgrind adds
# for recursion; e.g. qemu_main_loop main_loop_wait: main loop passes)
xpv_callgrind_calls() {
    awk -v caller="$2" -v callee="$3" '
        function name(spec,    id, rest) {
            # "(id) name" defines id, "(id)" uses it
            id = spec; sub(/\).*/, "", id); sub(/^\(/, "", id)
            rest = spec; sub(/^\([0-9]+\) ?/, "", rest)
            if (rest != "") { sub(/\x27[0-9]+$/, "", rest); names[id] = rest }
            return names[id]
        }
        /^fn=/ { fn = name(substr($0, 4)); next }
        /^cfn=/ { cfn = name(substr($0, 5)); next }
        /^calls=/ { if (fn == caller && cfn == callee) { split(substr($0, 7), c, " "); n += c[1] } }
        END { print n + 0 }' "$1"
}

# Debian archive base URI, taken from the machine's own apt configuration
# (the source that serves bookworm/main), so no mirror is named here.
xpv_debian_uri() {
    if [ -n "${XPV_DEBIAN_URI:-}" ]; then
        echo "$XPV_DEBIAN_URI"; return
    fi
    apt-cache policy 2>/dev/null | awk '
        /^ *[0-9]+ [a-z]+:\/\/.* bookworm\/main / { uri = $2; next }
        /release .*o=Debian,.*n=bookworm,l=Debian,c=main/ { if (uri) { print uri; exit } }
        { uri = "" }'
}

# The source serving bookworm-security/main in this machine's apt setup
# (empty if none): the Xen 4.17 tools source (build-xen-tools.sh).
xpv_debian_security_uri() {
    apt-cache policy 2>/dev/null | awk '
        /^ *[0-9]+ [a-z]+:\/\/.* bookworm-security\/main / { print $2; exit }'
}

# A private apt configuration: its own sources, lists and cache, so the
# machine's apt setup is never edited. Prints the apt-get options to use.
xpv_private_apt() {
    local d="$XPV_CACHE/apt" uri suri
    uri=$(xpv_debian_uri)
    suri=$(xpv_debian_security_uri)
    [ -n "$uri" ] || xpv_die "cannot find the Debian archive in this machine's apt sources (run 'apt-get update', or set XPV_DEBIAN_URI)"
    mkdir -p "$d/lists/partial" "$d/archives/partial"
    cat > "$d/sources.list.new" <<EOS
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $XPV_QEMU_SUITE main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bookworm-backports main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bookworm main
${suri:+deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $suri bookworm-security main}
EOS
    if ! cmp -s "$d/sources.list.new" "$d/sources.list"; then
        mv "$d/sources.list.new" "$d/sources.list"
        rm -f "$d/lists/stamp"
    else
        rm -f "$d/sources.list.new"
    fi
    XPV_APT_OPTS=(-o "Dir::Etc::SourceList=$d/sources.list"
                  -o "Dir::Etc::SourceParts=$d/none"
                  -o "Dir::State::Lists=$d/lists"
                  -o "Dir::Cache::Archives=$d/archives"
                  -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
                  -o "APT::Sandbox::User=root")
    if [ ! -f "$d/lists/stamp" ] || [ -n "$(find "$d/lists/stamp" -mmin +1440)" ]; then
        xpv_log "updating the private apt lists (trixie and bookworm sources, bookworm-backports)"
        apt-get "${XPV_APT_OPTS[@]}" -q update >&2 || xpv_die "apt-get update (private config) failed"
        touch "$d/lists/stamp"
    fi
}
