"""A TCP relay in front of the broker that can be frozen: connections stay open
but no byte moves, as when the broker process is stopped (SIGSTOP)."""
import socket
import threading
from urllib.parse import urlparse, urlunparse


class FreezableRelay:

    def __init__(self, target_uri):
        parts = urlparse(target_uri)
        self._target = (parts.hostname, parts.port or 5672)
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        netloc = parts.netloc.rsplit("@", 1)
        self.uri = urlunparse(parts._replace(
            netloc=(netloc[0] + "@" if len(netloc) == 2 else "") + f"127.0.0.1:{self.port}"))
        self._flowing = threading.Event()
        self._flowing.set()
        self._sockets = []
        self._threads = []
        self._closed = False
        self._threads.append(threading.Thread(target=self._accept, daemon=True))
        self._threads[-1].start()

    def freeze(self):
        self._flowing.clear()

    def thaw(self):
        self._flowing.set()

    def close(self):
        """Every socket shut and every pump ended (none left waiting on a reused fd)."""
        self._closed = True
        self._flowing.set()
        for s in [self._server, *self._sockets]:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(5)
        for s in [self._server, *self._sockets]:
            s.close()

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                self._threads.append(threading.Thread(target=self._pump, args=(a, b), daemon=True))
                self._threads[-1].start()

    def _pump(self, source, sink):
        while True:
            try:
                data = source.recv(65536)
            except (OSError, EOFError):  # closed (eventlet says EOFError)
                data = b""
            self._flowing.wait()  # frozen: hold the bytes, as a stopped broker would
            if not data:
                break
            try:
                sink.sendall(data)
            except OSError:
                break
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
