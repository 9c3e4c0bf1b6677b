"""MQTT with micropython-lib `umqtt.simple` (`mpremote mip install umqtt.simple`): publish a
few readings and receive them back through a subscription to the same topic."""

import quectel.socket
from quectel import Modem

from boards import esp32_generic as board  # your wiring: a file of boards/

APN = "internet"  # your SIM's access point name
BROKER = "test.mosquitto.org"
PORT = 1883
TOPIC = b"quectel-mpy/example"
CLIENT_ID = b"quectel-mpy-example"

try:  # on a host, the tests point the settings at loopback servers; a board has no such file
    from local_settings import *  # noqa: F403
except ImportError:
    pass


def main():
    modem = Modem.for_board(board, on_change=print)
    modem.connect(APN)
    quectel.socket.use(modem)
    from umqtt.simple import MQTTClient  # imports socket: after use()

    inbox = []

    def on_message(topic, msg):
        print("received", topic, msg)
        inbox.append(msg)

    c = MQTTClient(CLIENT_ID, BROKER, PORT, keepalive=60)
    c.set_callback(on_message)
    c.connect()
    c.subscribe(TOPIC, qos=1)
    for n in range(3):
        c.publish(TOPIC, b"reading %d" % n, qos=1)
    while len(inbox) < 3:  # our own messages, back from the broker (some may have come
        c.wait_msg()  # while publish() waited for its acknowledgement)
    c.disconnect()
    modem.disconnect()


main()
