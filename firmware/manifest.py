# Freezes the package, a board file and the telemetry application into a custom firmware, so
# their code runs from flash and costs no RAM when imported.
#
# Build (MicroPython source tree, port toolchain installed), e.g. for an ESP32 DevKitC:
#
#   cd micropython
#   make -C mpy-cross
#   QUECTEL_BOARD=esp32_generic make -C ports/esp32 BOARD=ESP32_GENERIC \
#       FROZEN_MANIFEST=/path/to/repo/firmware/manifest.py
#   QUECTEL_BOARD=rpi_pico make -C ports/rp2 BOARD=RPI_PICO \
#       FROZEN_MANIFEST=/path/to/repo/firmware/manifest.py
#
# QUECTEL_BOARD names boards/<name>.py (default esp32_generic). FROZEN_MANIFEST replaces the
# board's own manifest, so the port's default one is included first (asyncio, requests, ...).
#
# What it gives the board:  quectel (lib/quectel),  boards.<name>,  config  and
# firmware.main. A board's filesystem comes first on sys.path, so a config.py copied there
# overrides the frozen one. To start the application at boot, put this two-line main.py on the
# filesystem (the frozen module cannot be called "main": the file would shadow it):
#
#   from firmware.main import main
#   main()
import os

include("$(PORT_DIR)/boards/manifest.py")
require("requests")  # micropython-lib requests (most ports' default manifests have it)
add_library("quectel-mpy", "../lib")
require("quectel-core")  # lib/quectel-core: the package without its asyncio extension

package("boards", files=(os.environ.get("QUECTEL_BOARD", "esp32_generic") + ".py",),
        base_path="..")  # fmt: skip
module("config.py")
package("firmware", files=("main.py",), base_path="..")
