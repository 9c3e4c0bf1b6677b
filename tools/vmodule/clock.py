"""Network time, the module's RTC (AT+CCLK) and its time format with quarter-hour zone."""

import datetime
import time


class Clock:
    """Network time runs with the module clock from the real time at start."""

    def __init__(self, loop, tz=0):
        self.loop = loop
        self.tz = tz  # quarter hours
        self.epoch = time.time()
        self.rtc_offset = 0.0  # RTC minus network time (kept over power cycles)
        self.reset()

    def reset(self):
        self.ntp_busy = None  # (server, port) of the running AT+QNTP

    def start(self):
        self.epoch = time.time()

    def net_utc(self):
        return self.epoch + self.loop.now_ms() / 1000.0

    def rtc(self):
        return self.net_utc() + self.rtc_offset

    def set_rtc(self, utc):
        self.rtc_offset = utc - self.net_utc()

    def format(self, t, four_digit_year):
        """yy/MM/dd,hh:mm:ss±zz (yyyy with four_digit_year) in the local time of tz."""
        local = datetime.datetime.fromtimestamp(t, datetime.timezone.utc) + datetime.timedelta(
            minutes=15 * self.tz
        )
        y = local.strftime("%Y" if four_digit_year else "%y")
        return "%s/%s%+03d" % (y, local.strftime("%m/%d,%H:%M:%S"), self.tz)
