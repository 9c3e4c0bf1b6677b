metadata(
    description="Cellular Internet through a Quectel UC20/EC2x module's TCP/IP AT commands.",
    version="0.1.0",
)

# The core of the quectel package (its sources are in ../quectel), as micropython-lib's
# aioble-core is the core of aioble; extensions require() it by this directory's name.
package(
    "quectel",
    files=(
        "__init__.py",
        "clock.py",
        "coalesce.py",
        "conn.py",
        "diag.py",
        "dns.py",
        "engine.py",
        "errors.py",
        "files.py",
        "framing.py",
        "lifecycle.py",
        "modem.py",
        "network.py",
        "parse.py",
        "policy.py",
        "power.py",
        "query.py",
        "socket.py",
        "tls.py",
        "transparent.py",
        "validate.py",
    ),
    base_path="..",
)
