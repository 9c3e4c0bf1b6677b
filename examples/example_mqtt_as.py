"""MQTT with Peter Hinch's `mqtt_as` (asyncio, reconnects by itself; github:peterhinch/
micropython-mqtt). It is written for Wi-Fi: quectel.network stands in for `network`."""

import asyncio

import quectel.network
from quectel import Modem

from boards import esp32_generic as board  # your wiring: a file of boards/

APN = "internet"  # your SIM's access point name
BROKER = "test.mosquitto.org"
PORT = 1883
TOPIC = b"quectel-mpy/example"
CLIENT_ID = b"quectel-mpy-example-as"

try:  # on a host, the tests point the settings at loopback servers; a board has no such file
    from local_settings import *  # noqa: F403
except ImportError:
    pass


async def main(client, inbox, subscribed):
    await client.connect()
    await subscribed.wait()  # connect_coro runs as a task of its own
    for n in range(3):
        await client.publish(TOPIC, b"reading %d" % n, qos=1)
    while len(inbox) < 3:  # our own messages, back from the broker
        await asyncio.sleep_ms(100)
    client.close()


def run():
    modem = Modem.for_board(board, on_change=print)
    modem.connect(APN)
    quectel.network.use(modem, apn=APN)  # before importing mqtt_as: it imports network
    from mqtt_as import MQTTClient, config

    inbox = []
    subscribed = asyncio.Event()

    def on_message(topic, msg, retained):
        print("received", topic, msg)
        inbox.append(msg)

    async def on_connect(client):  # after every (re)connection: the session may be new
        await client.subscribe(TOPIC, 1)
        subscribed.set()

    config.update(server=BROKER, port=PORT, client_id=CLIENT_ID, ssid=APN, queue_len=0,
                  subs_cb=on_message, connect_coro=on_connect)  # fmt: skip
    asyncio.run(main(MQTTClient(config), inbox, subscribed))
    modem.disconnect()


run()
