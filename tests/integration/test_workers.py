"""Many workers: a worker killed under load is replaced while the clients
of the other workers never notice, and inherited sockets (socket
activation) are shared by all workers with EPOLLEXCLUSIVE, each taking a
share of the connections."""

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request

from harness import (HELLO, Reader, build_request, ferryd_path, free_port,
                     holds_socket, read_response, server_socket_inode,
                     wait_until)


def test_killing_a_worker_under_load_spares_the_other_workers_clients(launch):
    ferry = launch(workers=2)
    workers = wait_until(lambda: (w := ferry.worker_pids()) and len(w) == 2 and w,
                         5, message="two workers")
    # Keep-alive clients, each known to be served by one worker.
    clients = {pid: [] for pid in workers}
    for _ in range(40):
        sock = ferry.connect()
        sock.sendall(build_request("/hello.txt"))
        reader = Reader(sock)
        assert read_response(reader).body == HELLO
        inode = server_socket_inode(ferry.port, sock)
        owner = next(p for p in workers if holds_socket([p], inode))
        clients[owner].append((sock, reader))
    victim, survivor = sorted(workers, key=lambda p: len(clients[p]))[::-1]
    assert clients[survivor], "the port hash sent every client to one worker"

    errors = []
    stop = threading.Event()

    def load(sock, reader):
        try:
            while not stop.is_set():
                sock.sendall(build_request("/hello.txt"))
                if read_response(reader).body != HELLO:
                    errors.append("wrong body")
        except OSError as error:
            errors.append(repr(error))

    threads = [threading.Thread(target=load, args=c) for c in clients[survivor]]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # load (not synchronisation): the survivors are busy
    os.kill(victim, signal.SIGKILL)
    replacement = wait_until(
        lambda: [p for p in ferry.worker_pids() if p not in workers] or None,
        10, message="a replacement worker")
    time.sleep(0.3)  # more load after the replacement
    stop.set()
    for thread in threads:
        thread.join(10)
    assert not errors, errors[:5]
    for sock, _ in clients[victim] + clients[survivor]:
        sock.close()
    assert len(replacement) == 1
    assert ferry.get("/hello.txt").body == HELLO


def test_inherited_sockets_are_shared_by_every_worker(tmp_path):
    """Under concurrent load on one socket from systemd-socket-activate,
    both workers accept connections (EPOLLEXCLUSIVE wakes one at a time);
    the per-worker split is printed for the record."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello.txt").write_bytes(HELLO)
    port, metrics = free_port(), free_port()
    stderr = open(tmp_path / "stderr", "wb")
    proc = subprocess.Popen(
        ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", ferryd_path(),
         "--root", str(root), "--workers", "2", "--access-log", "off",
         "--metrics-listen", f"127.0.0.1:{metrics}"],
        stderr=stderr, stdout=subprocess.DEVNULL)
    try:
        def get(_):
            with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
                s.sendall(build_request("/hello.txt", close=True))
                return read_response(Reader(s)).body == HELLO
        wait_until(lambda: b"Listening on" in (tmp_path / "stderr").read_bytes(),
                   10, message="systemd-socket-activate to listen")
        assert get(0)  # socket-activate execs ferryd on the first connection
        wait_until(lambda: b"metrics on" in (tmp_path / "stderr").read_bytes(), 10,
                   message="the metrics listener")
        for _ in range(5):
            results = []
            threads = [threading.Thread(target=lambda: results.append(get(0)))
                       for _ in range(64)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert results.count(True) == 64
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/",
                                      timeout=10).read().decode()
        accepted = {line.split('"')[1]: int(line.split()[-1])
                    for line in text.splitlines()
                    if line.startswith("ferry_accepted_total{")}
        print("connections accepted per worker:", accepted)
        assert sum(accepted.values()) == 321
        assert all(count > 0 for count in accepted.values()), accepted
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        stderr.close()
