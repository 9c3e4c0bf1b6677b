# Module TLS (quectel.tls) under the MicroPython unix port, on the virtual board, against the
# virtual module's real TLS and loopback peers with RSA certificates: uploads, 100 KB each way,
# micropython-lib requests (HTTPS GET/POST), umqtt.simple and umqtt.robust (ssl=True) unmodified.
# Run by host_tests/test_tls_device.py, which starts the peers and names them in the
# environment: TLS_CA (PEM path), TLS_ECHO_PORT, HTTPS_PORT, MQTTS_PORT, OTHER_CA.
import os

import quectel.socket as qsocket
import quectel.tls as qtls
from mptest import eq, ok, raises, run, test
from payload import echo_check, pattern
from quectel import Modem, files

import boards.virtual as board

modem = Modem.for_board(board)
ECHO = int(os.getenv("TLS_ECHO_PORT"))


def context(ca_path=None):
    ctx = qtls.SSLContext()
    ctx.load_verify_locations(cafile=ca_path or os.getenv("TLS_CA"))
    return ctx


def tls_socket(ctx, port, mode=0, host="localhost"):
    s = modem.socket(mode=mode)
    s.settimeout(20)
    s.connect(("127.0.0.1", port))
    return ctx.wrap_socket(s, server_hostname=host)


@test
def bring_up():
    modem.connect("internet")
    ok(modem.isconnected())


@test
def upload_verified_and_skipped_when_identical():
    with open(os.getenv("TLS_CA"), "rb") as f:
        ca = f.read()
    ok(files.upload(modem, "dev-ca.pem", ca))
    ok(not files.upload(modem, "dev-ca.pem", ca))
    ok(("dev-ca.pem", len(ca)) in files.listdir(modem))
    ok(files.remove(modem, "dev-ca.pem"))


@test
def hundred_kb_each_way_buffer_mode():
    s = tls_socket(context(), ECHO)
    eq(echo_check(s, pattern(100 * 1024, 3), 4096), 100 * 1024)
    s.close()


@test
def hundred_kb_each_way_push_mode():
    s = tls_socket(context(), ECHO, mode=1)
    eq(echo_check(s, pattern(100 * 1024, 4), 4096), 100 * 1024)
    s.close()


@test
def wrong_ca_is_a_tls_error_not_a_refusal():
    e = raises(OSError, tls_socket, context(os.getenv("OTHER_CA")), ECHO)
    ok(isinstance(e, qtls.TLSError), repr(e))
    eq(e.errno, qtls.EPROTO)
    eq(modem.sockets, [None] * 12)


@test
def requests_https_get_and_post_over_module_tls():
    qsocket.use(modem)
    qtls.use(context())
    import requests

    port = int(os.getenv("HTTPS_PORT"))
    r = requests.get("https://localhost:%d/secure" % port)
    eq(r.status_code, 200)
    eq(r.content, b"hello from /secure")
    r = requests.post("https://127.0.0.1:%d/up" % port, data=b"cellular tls")
    eq(r.content, b"CELLULAR TLS")


@test
def umqtt_simple_over_module_tls():
    qsocket.use(modem)
    qtls.use(context())
    from umqtt.simple import MQTTClient

    got = []
    c = MQTTClient("dev-tls", "127.0.0.1", port=int(os.getenv("MQTTS_PORT")), ssl=True)
    c.set_callback(lambda topic, msg: got.append((topic, msg)))
    c.connect()
    ok(c.sock.c.ssl, "not a module TLS socket")
    c.subscribe(b"tls/echo", 1)
    payload = bytes(pattern(3000, 5))
    c.publish(b"tls/echo", payload, qos=1)
    while not got:
        c.wait_msg()
    c.disconnect()
    eq(got[0], (b"tls/echo", payload))


@test
def umqtt_robust_over_module_tls():
    from umqtt.robust import MQTTClient

    got = []
    c = MQTTClient("dev-tls-r", "localhost", port=int(os.getenv("MQTTS_PORT")), ssl=True,
                   ssl_params={"server_hostname": "localhost"})  # fmt: skip
    c.set_callback(lambda topic, msg: got.append(msg))
    c.connect()
    c.subscribe(b"tls/robust")
    c.publish(b"tls/robust", b"robust over module TLS")
    while not got:
        c.wait_msg()
    c.disconnect()
    eq(got, [b"robust over module TLS"])


run()
