#!/usr/bin/env bash
# One entry point that sets up everything it needs, then runs a task.
#   bash dev.sh demo   - run the simulated demo school end to end
#   bash dev.sh test   - run the test suite
#   bash dev.sh lint   - static checks
#   bash dev.sh setup  - only set up (.venv, Python and Debian packages)
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PY="$VENV/bin/python"
# Debian packages: portaudio19-dev to build PyAudio; the rest are independent peers the
# tests check our code against (edid-decode, socat pty pairs, ALSA tools, headless Chromium,
# ffmpeg/ffprobe, GStreamer's RTSP server through the system Python's gi bindings, net-snmp).
DEB_PACKAGES=(portaudio19-dev alsa-utils socat edid-decode chromium ffmpeg
    python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
    snmp snmpd)

log() { printf '[dev.sh] %s\n' "$*" >&2; }

need_python() {
    for cand in python3.13 python3.12 python3.11 python3; do
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$cand"; return 0
        fi
    done
    log "Python >= 3.11 is required / 需要 Python 3.11 或更高版本"; exit 2
}

install_debian_packages() {
    local missing=()
    for pkg in "${DEB_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        log "missing Debian packages (${missing[*]}); install them with your package manager"; return 0
    fi
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    log "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq >/dev/null || log "apt-get update failed; trying the install anyway"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

setup() {
    install_debian_packages
    if [ ! -x "$PY" ]; then
        log "creating virtualenv $VENV"
        "$(need_python)" -m venv "$VENV"
    fi
    # Reinstall only when the project metadata changed.
    local stamp="$VENV/.classcert-installed"
    local want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        log "installing classcert and its test dependencies into $VENV"
        "$PY" -m pip install -q --upgrade pip >/dev/null
        "$PY" -m pip install -q -e '.[test]'
        echo "$want" >"$stamp"
    fi
}

task="${1:-test}"
shift || true
setup
case "$task" in
    setup) ;;
    demo) exec "$VENV/bin/classcert" demo "$@" ;;
    test) exec "$PY" -m pytest -m "not slow and not soak" "$@" ;;
    lint) exec "$PY" -m ruff check harness device_drivers fixtures test_suites rigs reports tests "$@" ;;
    *) log "unknown task '$task' (demo | test | lint | setup)"; exit 2 ;;
esac
