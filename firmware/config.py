# Settings of the telemetry firmware (firmware/main.py). Edit them for your SIM and server.
#
# On a host (the MicroPython unix port, as tools/run uses it) every setting can also be
# overridden by an environment variable FW_<NAME>, e.g. FW_SERVER_URL or FW_REPORTS; boards
# have no environment, so there this file alone counts.

# The SIM's packet data settings (ask the operator; many SIMs need only the APN).
APN = ""
USER = ""
PASSWORD = ""

# Where the readings go: an HTTP(S) URL that accepts a JSON POST.
# The default is the loopback endpoint tools/run starts next to the virtual board.
SERVER_URL = "http://127.0.0.1:8080/telemetry"

# For an https:// SERVER_URL: a file on the flash holding the CA certificate (PEM) that signed
# the server's, so the server is verified; None encrypts without verifying.
CA_FILE = None

# Who does the TLS of an https:// SERVER_URL: "module" (the module's own TLS stack, uploaded
# CA and all: no ssl and no TLS RAM needed on the MCU; the module takes RSA certificates),
# "mcu" (the firmware's ssl), or "auto" (the MCU's ssl where the firmware has it, else the
# module's: stock Raspberry Pi Pico firmware has no ssl).
TLS = "auto"

# Seconds between two readings (each is stored, then the queue is sent).
INTERVAL = 10

# The queue of readings on flash (firmware/store.py): its folder (relative to the working
# directory, the flash root on a board), how many readings it holds before the oldest is
# dropped (and counted), and how many go in one POST at most.
STORE_DIR = "queue"
QUEUE_MAX = 500
BATCH = 8

# The board module the firmware imports: boards/<BOARD>.py ("virtual", "esp32_generic",
# "rpi_pico", ...). tools/run --board NAME writes the name here when it deploys.
BOARD = "virtual"

# NTP server for the clock. The virtual module resolves only the names in its table, and
# "localhost" is there; on a real network use e.g. "pool.ntp.org".
NTP_SERVER = "localhost"

# DNS servers for the PDP context, e.g. ("8.8.8.8", "1.1.1.1"); None keeps the network's.
DNS = None

# How many readings to take before main() returns, once the queue is empty: None = forever
# (a device); 0 only empties the queue left by an earlier run.
# A bounded run (tests, tools/run --reports N) also gives up at once, with a non-zero exit
# status on the unix port, when the module cannot be reached or brought up, or after three
# failed sends in a row; a forever run keeps retrying with back-off instead.
REPORTS = None
