"""What HAProxy pays per stats request to check a userlist password: sha512-crypt (what the sites use) against
bcrypt, both through libxcrypt (the library HAProxy itself calls), and the program's own hashing (libpass).

    venv/bin/python bench/haproxy_hash_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.sites.haproxy_config import hash_stats_password

PASSWORD = b"correct-horse-battery-staple"


def _timed(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    runs = parser.parse_args().runs
    name = ctypes.util.find_library("crypt")
    if name is None:
        print("libcrypt (libxcrypt) is not installed", file=sys.stderr)
        return 1
    libcrypt = ctypes.CDLL(name)
    libcrypt.crypt.restype = ctypes.c_char_p
    libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]

    def sha512() -> None:
        libcrypt.crypt(PASSWORD, b"$6$abcdefgh12345678$")

    def bcrypt() -> None:
        libcrypt.crypt(PASSWORD, b"$2b$12$abcdefghijklmnopqrstuu")

    def program() -> None:
        hash_stats_password(PASSWORD.decode(), "abcdefgh12345678")

    rows = [
        ("sha512-crypt, 5000 rounds (libxcrypt)", _timed(sha512, runs)),
        ("bcrypt, cost 12 (libxcrypt)", _timed(bcrypt, max(3, runs // 10))),
        ("sha512-crypt in the program (libpass)", _timed(program, max(3, runs // 5))),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"{'hash (median)'.ljust(width)}  ms per check")
    for label, ms in rows:
        print(f"{label.ljust(width)}  {ms:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
