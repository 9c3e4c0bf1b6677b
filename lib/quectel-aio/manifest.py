metadata(
    description="asyncio front for the quectel package: awaitable modem, streams, servers, UDP.",
    version="0.1.0",
)

# An extension package, as micropython-lib's aioble-central extends aioble: it requires the
# core by name and adds its module to the same package. asyncio is built into the firmware of
# every port that has it.
require("quectel-core")
package("quectel", files=("aio.py",), base_path="..")
