metadata(
    description="asyncio front for the quectel package: awaitable modem, streams, servers, UDP.",
    version="0.1.0",
)

# The base package (lib/manifest.py), then this extension's module into the same package,
# as micropython-lib's aioble-central adds central.py to aioble. asyncio is built into the
# firmware of every port that has it.
include("../manifest.py")
package("quectel", files=("aio.py",), base_path="..")
