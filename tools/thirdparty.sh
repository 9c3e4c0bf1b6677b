# Sourced by tools/env.sh (needs $ROOT and $VENV): third-party code and the broker that
# host_tests/test_mqtt.py runs against; none of it is committed.
#  - Debian's mosquitto, installed with apt-get when missing and we are root;
#  - the PyPI sdists of micropython-umqtt.simple, micropython-umqtt.robust and
#    micropython-mqtt (mqtt_async, "largely compatible with Peter Hinch's mqtt_as"), pinned
#    by version and sha256, unpacked into build/thirdparty/;
#  - MicroPython's manifest tool (tools/manifestfile.py of MicroPython, MIT), which
#    host_tests/test_manifests.py evaluates our manifest.py files with: PyPI's
#    micropython-stubber wheel ships it as stubber/tools/manifestfile.py. Only that file is
#    taken from the pinned wheel (installing the wheel would pull in dozens of packages and an
#    older ruff), into build/thirdparty/manifestfile/.
# Idempotent and quick once done; a failure here never fails the set-up: the tests that need
# the missing piece skip and say why.

_tp_main() {
  local dir="$ROOT/build/thirdparty"
  if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] \
    && [ ! -e "$dir/.apt-tried" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    mkdir -p "$dir"
    echo "installing mosquitto (apt-get) ..."
    if ! { DEBIAN_FRONTEND=noninteractive apt-get -qq update \
      && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends \
      mosquitto; } >"$dir/apt.log" 2>&1; then
      echo "warning: could not install mosquitto (see $dir/apt.log); MQTT tests will skip" >&2
      touch "$dir/.apt-tried"  # do not retry on every run
    fi
  fi
  # name version sha256 directory-it-unpacks-to
  local pins="
micropython-umqtt.simple 1.3.4 b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f micropython-umqtt.simple-1.3.4
micropython-umqtt.robust 1.0 22a1b8c8e1128281efb13b3020927d07e33c5b747869da2cd77d37983a9ea002 micropython-umqtt.robust-1.0
micropython-mqtt 0.7b4 254a0af13d37cb92372538b6ded44c5f26e2e77c0d8b9b4e2d73c4f26f43e042 micropython-mqtt-0.7b4
"
  local name ver sum sub
  while read -r name ver sum sub; do
    [ -n "$name" ] || continue
    [ -e "$dir/$sub/.ok" ] && continue
    mkdir -p "$dir"
    _tp_fetch "$dir" "$name" "$ver" "$sum" "$sub" \
      || echo "warning: could not get $name $ver; the tests that need it will skip" >&2
  done <<<"$pins"
  [ -e "$dir/manifestfile/manifestfile.py" ] || _tp_manifestfile "$dir" \
    || echo "warning: could not get MicroPython's manifestfile.py; manifest tests will skip" >&2
}

_tp_manifestfile() {
  local dir=$1 name=micropython-stubber ver=1.29.1
  local sum=d2eb308da8bc75079fdf382294e5ab5b0f2ef532b76fecb46a588d7ea6e19373
  local whl="$dir/micropython_stubber-$ver-py3-none-any.whl"
  mkdir -p "$dir"
  if [ ! -s "$whl" ]; then
    echo "downloading $name $ver (wheel, for MicroPython's manifestfile.py) ..."
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary :all: \
      -d "$dir" "$name==$ver" >/dev/null 2>&1 || return 1
  fi
  if [ "$(sha256sum "$whl" | cut -d' ' -f1)" != "$sum" ]; then
    echo "warning: $whl: sha256 mismatch, removed" >&2
    rm -f "$whl"
    return 1
  fi
  mkdir -p "$dir/manifestfile"
  "$VENV/bin/python" -c 'import sys, zipfile
sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("stubber/tools/manifestfile.py"))' \
    "$whl" >"$dir/manifestfile/manifestfile.py.part" \
    && mv "$dir/manifestfile/manifestfile.py.part" "$dir/manifestfile/manifestfile.py"
}

_tp_fetch() {
  local dir=$1 name=$2 ver=$3 sum=$4 sub=$5
  local tgz="$dir/$sub.tar.gz" out url
  if [ ! -s "$tgz" ]; then
    echo "downloading $name $ver (sdist) ..."
    # These sdists have no setup.py: pip fetches them, then refuses to keep them ("does not
    # appear to be a Python project") and names the URL it fetched; we take it from there.
    out=$("$VENV/bin/pip" download -q --disable-pip-version-check --no-deps \
      --no-binary :all: -d "$dir" "$name==$ver" 2>&1) || true
    if [ ! -s "$tgz" ]; then
      url=$(printf '%s\n' "$out" | grep -o "https://[^ ]*/$sub\.tar\.gz" | head -n1)
      [ -n "$url" ] || { printf '%s\n' "$out" | tail -n3 >&2; return 1; }
      "$VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlretrieve(*sys.argv[1:])' \
        "$url" "$tgz.part" && mv "$tgz.part" "$tgz" || return 1
    fi
  fi
  if [ "$(sha256sum "$tgz" | cut -d' ' -f1)" != "$sum" ]; then
    echo "warning: $tgz: sha256 mismatch, removed" >&2
    rm -f "$tgz"
    return 1
  fi
  rm -rf "${dir:?}/$sub"
  tar -xzf "$tgz" -C "$dir" && touch "$dir/$sub/.ok"
}

_tp_main || true
unset -f _tp_main _tp_fetch _tp_manifestfile
