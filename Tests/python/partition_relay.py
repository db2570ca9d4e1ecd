"""A TCP relay that can cut a backend off the network and bring it back, for tests of a cluster
that becomes unreachable while clients write (a datacenter partition) without the backend losing
its data, which a real stop of memcached would.

`cut()` resets every relayed connection at once (nothing the relay has not forwarded yet reaches
the backend afterwards) and, until `heal()`, resets each new connection as soon as it is accepted.
"""

from __future__ import annotations

import socket
import struct
import threading


class PartitionRelay:
    def __init__(self, target_port: int):
        self.target_port = target_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.is_cut = False
        self.stopped = False
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @staticmethod
    def _reset(s: socket.socket) -> None:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        except OSError:
            pass

    def _accept_loop(self) -> None:
        while not self.stopped:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                if self.is_cut:
                    self._reset(client)
                    continue
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.target_port))
                except OSError:
                    self._reset(client)
                    continue
                for s in (client, upstream):
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                pair = (client, upstream)
                self.pairs.append(pair)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst, pair), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, pair: tuple) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            with self.lock:
                # Checked under the lock: once cut() returns, nothing more is forwarded.
                if not data or pair not in self.pairs:
                    break
                try:
                    dst.sendall(data)
                except OSError:
                    break
        with self.lock:
            if pair in self.pairs:
                self.pairs.remove(pair)
                for s in pair:
                    self._reset(s)

    def cut(self) -> None:
        with self.lock:
            self.is_cut = True
            for pair in self.pairs:
                for s in pair:
                    self._reset(s)
            self.pairs = []

    def heal(self) -> None:
        with self.lock:
            self.is_cut = False

    def stop(self) -> None:
        self.stopped = True
        self.cut()
        self.sock.close()
