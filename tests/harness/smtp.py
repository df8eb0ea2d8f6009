"""An SMTP stand-in (python3-aiosmtpd) on loopback that captures messages
and can be told to refuse, stall or go away, so the suite can test mail
delivery, retries and outages against a real SMTP conversation."""

import asyncio
import email
import email.policy
import threading
import time

from aiosmtpd.controller import Controller


class _Handler:
    def __init__(self, standin):
        self.standin = standin

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.standin.mode == "refuse":
            self.standin.refused += 1
            return "451 4.3.0 Mailbox temporarily unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.standin.mode == "stall":
            # Hold the DATA reply until the test releases us; run the
            # blocking wait in a thread so the event loop stays alive.
            await asyncio.get_running_loop().run_in_executor(
                None, self.standin.release.wait, 30)
        msg = email.message_from_bytes(envelope.content,
                                       policy=email.policy.default)
        with self.standin.lock:
            self.standin.messages.append((envelope.mail_from,
                                          list(envelope.rcpt_tos), msg))
        return "250 Message accepted"


class SmtpStandin:
    """mode: 'accept' (default), 'refuse' (451 at RCPT), 'stall' (DATA
    reply held until release.set())."""

    def __init__(self, port):
        self.port = port
        self.mode = "accept"
        self.refused = 0
        self.messages = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self._controller = None

    @property
    def running(self):
        return self._controller is not None

    def start(self):
        self._controller = Controller(_Handler(self), hostname="127.0.0.1",
                                      port=self.port)
        self._controller.start()

    def stop(self):
        """Go away: connections are refused until start()."""
        if self._controller:
            self._controller.stop()
            self._controller = None

    def reset(self):
        self.mode = "accept"
        self.refused = 0
        self.release.set()
        self.release = threading.Event()
        with self.lock:
            self.messages.clear()

    def received(self, to=None):
        with self.lock:
            return [m for m in self.messages if to is None or to in m[1]]

    def wait_for(self, to, count=1, timeout=30):
        """Messages for `to` once at least count arrived; [] on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(to)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return self.received(to)
