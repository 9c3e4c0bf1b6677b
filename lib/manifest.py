metadata(
    description="quectel-mpy: the quectel package and its asyncio extension.",
    version="0.1.0",
)

# Everything in one line of a board manifest: include("path/to/repo/lib/manifest.py").
# Or register this directory and require only what you use, as firmware/manifest.py does:
#   add_library("quectel-mpy", "path/to/repo/lib")
#   require("quectel-core")   # or require("quectel-aio"): the extension and the core
add_library("quectel-mpy", ".")
require("quectel-core")
require("quectel-aio")
